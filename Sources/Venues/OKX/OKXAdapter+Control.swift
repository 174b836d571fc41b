public import MarketCore

extension OKXAdapter {
    /// OKX's control frames: the text `pong`, and `event` objects:
    ///
    /// ```json
    /// {"event":"error","code":"60018","msg":"Wrong URL or channel:trades,instId:BTC-XYZ doesn't exist.","connId":"a4d3ae55"}
    /// {"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}
    /// ```
    /// Subscribe acks (`{"event":"subscribe",…}`) need nothing; data frames lead with `arg`.
    public func control(_ frame: UnsafeRawBufferPointer) -> ControlFrame? {
        if ControlRead.isBare(frame, "pong") { return .pong }
        var found: ControlFrame? = nil
        ControlRead.members(frame) { key, s in
            if key.equals("data") { return false }
            guard key.equals("event") else { return true }
            if let event = s.readStringRaw() {
                if event.equals("error") || event.equals("channel-conn-count-error") {
                    found = .subscriptionRefused(detail: ControlRead.detail(frame))
                } else if event.equals("notice") {
                    found = .shutdownNotice(detail: ControlRead.detail(frame))
                }
            }
            return false
        }
        return found
    }
}
