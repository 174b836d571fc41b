public import MarketCore

extension KrakenAdapter {
    /// Kraken's control frames, v1 (`event`) and v2 (`method`):
    ///
    /// ```json
    /// {"errorMessage":"Currency pair not in ISO 4217-A3 format XBTUSD","event":"subscriptionStatus","pair":"XBTUSD","status":"error","subscription":{"name":"ticker"}}
    /// {"event":"pong","reqid":42}
    /// {"error":"Currency pair not supported XBT/USDX","method":"subscribe","success":false,"symbol":"XBT/USDX","time_in":"2023-09-20T07:11:00.000000Z","time_out":"2023-09-20T07:11:00.000100Z"}
    /// {"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}
    /// ```
    /// v1 data frames are arrays and v2 data frames lead with `channel`: neither is looked into.
    public func control(_ frame: UnsafeRawBufferPointer) -> ControlFrame? {
        var event: UnsafeRawBufferPointer? = nil
        var method: UnsafeRawBufferPointer? = nil
        var statusError = false
        var failed = false
        ControlRead.members(frame) { key, s in
            if key.equals("channel") { return false }
            if key.equals("event") {
                event = s.readStringRaw()
            } else if key.equals("method") {
                method = s.readStringRaw()
            } else if key.equals("status") {
                statusError = s.readStringRaw()?.equals("error") ?? false
            } else if key.equals("success") {
                failed = s.readBool() == false
            }
            return true
        }
        if let event {
            if event.equals("pong") { return .pong }
            if event.equals("subscriptionStatus"), statusError { return .subscriptionRefused(detail: ControlRead.detail(frame)) }
        } else if let method {
            if method.equals("pong") { return .pong }
            if method.equals("subscribe"), failed { return .subscriptionRefused(detail: ControlRead.detail(frame)) }
        }
        return nil
    }
}
