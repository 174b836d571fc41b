import MarketCore
import VenueFuzzing

let connections: [FuzzConnection] = [
    FuzzConnection(.kraken, .ws, "wss://ws.kraken.com"),
    FuzzConnection(.kraken, .ws, "wss://ws.kraken.com/v2"),
    FuzzConnection(.kraken, .rest, "https://api.kraken.com/0/public/Depth?pair=XBTUSD"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzVenueFrame(data, size, connections: connections)
    return 0
}
