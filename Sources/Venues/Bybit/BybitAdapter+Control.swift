public import MarketCore

extension BybitAdapter {
    /// Bybit's control frames (https://bybit-exchange.github.io/docs/v5/ws/connect):
    ///
    /// ```json
    /// {"success":false,"ret_msg":"Invalid symbol :[orderbook.50.BTCUSDX]","conn_id":"cfcb4bfb-0d91-4f1c-9d68-7b4e8fd8c6f5","req_id":"","op":"subscribe"}
    /// {"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}
    /// {"args":["1672916271846"],"op":"pong"}
    /// {"success":true,"conn_id":"…","data":{"failTopics":["orderbook.1.X"],"successTopics":[]},"type":"COMMAND_RESP"}
    /// ```
    /// Data frames lead with `topic` and are not looked into.
    public func control(_ frame: UnsafeRawBufferPointer) -> ControlFrame? {
        var success: Bool? = nil
        var op: UnsafeRawBufferPointer? = nil
        var retPong = false
        var command = false
        var failTopics = false
        ControlRead.members(frame) { key, s in
            if key.equals("topic") { return false }
            if key.equals("success") {
                success = s.readBool()
            } else if key.equals("op") {
                op = s.readStringRaw()
            } else if key.equals("ret_msg") {
                retPong = s.readStringRaw()?.equals("pong") ?? false
            } else if key.equals("type") {
                command = s.readStringRaw()?.equals("COMMAND_RESP") ?? false
            } else if key.equals("data") {
                // Only COMMAND_RESP carries an object here: does it list failed topics?
                guard let range = s.skipValue() else { return false }
                var d = s.scanner(for: range)
                guard d.beginObject() else { return true }
                while let k = d.nextKey() {
                    if k.equals("failTopics") {
                        if d.beginArray() {
                            d.skipWhitespace()
                            failTopics = d.peek() != UInt8(ascii: "]")
                        }
                        break
                    }
                    guard d.skipValue() != nil else { break }
                }
            }
            return true
        }
        if let op {
            if op.equals("pong") || (op.equals("ping") && retPong) { return .pong }
            if op.equals("subscribe"), success == false { return .subscriptionRefused(detail: ControlRead.detail(frame)) }
        } else if command, success == false || failTopics {
            return .subscriptionRefused(detail: ControlRead.detail(frame))
        }
        return nil
    }
}
