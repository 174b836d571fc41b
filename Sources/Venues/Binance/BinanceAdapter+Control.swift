public import MarketCore

extension BinanceAdapter {
    /// Binance's control frames, raw or in a combined-stream envelope:
    ///
    /// ```json
    /// {"error":{"code":2,"msg":"Invalid request: unknown variant `SUBSCRIB`"},"id":1}
    /// {"code":2,"msg":"Invalid request: property name must be a string","id":1}
    /// {"e":"serverShutdown","E":1723161300000}
    /// ```
    /// Subscribe acks (`{"result":null,"id":1}`) need nothing; pings are websocket ping frames.
    public func control(_ frame: UnsafeRawBufferPointer) -> ControlFrame? {
        var found: ControlFrame? = nil
        ControlRead.members(frame) { key, s in
            if key.equals("error") || key.equals("code") {
                found = .subscriptionRefused(detail: ControlRead.detail(frame))
                return false
            }
            if key.equals("e") {
                if let type = s.readStringRaw(), type.equals("serverShutdown") {
                    found = .shutdownNotice(detail: "venue announced shutdown")
                }
                return false
            }
            if key.equals("data") {
                // Combined stream: only the payload's leading "e" is looked at.
                guard s.beginObject(), let k = s.nextKey(), k.equals("e") else { return false }
                if let type = s.readStringRaw(), type.equals("serverShutdown") {
                    found = .shutdownNotice(detail: "venue announced shutdown")
                }
                return false
            }
            return true
        }
        return found
    }
}
