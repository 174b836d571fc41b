import MarketCore
import VenueFuzzing

let connections: [FuzzConnection] = [
    FuzzConnection(.coinbase, .ws, "wss://ws-feed.exchange.coinbase.com"),
    FuzzConnection(.coinbase, .ws, "wss://advanced-trade-ws.coinbase.com"),
    FuzzConnection(.coinbase, .rest, "https://api.exchange.coinbase.com/products/BTC-USD/book?level=2"),
    FuzzConnection(.coinbase, .rest, "https://api.exchange.coinbase.com/products/BTC-USD/trades?after=1"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzVenueFrame(data, size, connections: connections)
    return 0
}
