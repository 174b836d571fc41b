public import MarketCore

extension CoinbaseAdapter {
    /// Coinbase's only control frame that matters is the refusal (Exchange and Advanced Trade alike):
    ///
    /// ```json
    /// {"type":"error","message":"Failed to subscribe","reason":"BTC-XYZ is not a valid product"}
    /// ```
    /// `subscriptions` acks and heartbeats need nothing; pings are websocket ping frames.
    public func control(_ frame: UnsafeRawBufferPointer) -> ControlFrame? {
        var found: ControlFrame? = nil
        ControlRead.members(frame) { key, s in
            // Advanced Trade data frames lead with `channel`; their errors have none.
            if key.equals("channel") { return false }
            guard key.equals("type") else { return true }
            if let type = s.readStringRaw(), type.equals("error") {
                found = .subscriptionRefused(detail: ControlRead.detail(frame))
            }
            return false
        }
        return found
    }
}
