import Venues

extension GatewayConfiguration.VenueSettings {
    /// `id`'s production endpoints and documented timers, enabled, with no symbols: the venue's
    /// own table (``VenueDefinition/defaults``, where the documentation is cited).
    public static func defaults(for id: GatewayConfiguration.VenueID) -> Self {
        let d = id.definition.defaults
        var s = Self(id: id, wsURL: d.wsURL, restURL: d.restURL, subscribeBatch: d.subscribeBatch, bookDepth: d.bookDepth)
        s.pingInterval = d.pingInterval
        s.rotateAfter = d.rotateAfter
        return s
    }
}

extension GatewayConfiguration.VenueID {
    /// The venue's definition: endpoints, documented limits, symbols. Every configuration id has
    /// one (VenueDefaultsOnceTests checks).
    var definition: any VenueDefinition {
        guard let d = VenueRegistry.definition(venue) else { preconditionFailure("\(rawValue) is not in VenueRegistry") }
        return d
    }
}
