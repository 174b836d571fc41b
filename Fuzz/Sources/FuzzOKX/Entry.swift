import MarketCore
import VenueFuzzing

let connections: [FuzzConnection] = [
    FuzzConnection(.okx, .ws, "wss://ws.okx.com:8443/ws/v5/public"),
    FuzzConnection(.okx, .rest, "https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=400"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzVenueFrame(data, size, connections: connections)
    return 0
}
