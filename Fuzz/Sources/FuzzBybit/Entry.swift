import MarketCore
import VenueFuzzing

let connections: [FuzzConnection] = [
    FuzzConnection(.bybit, .ws, "wss://stream.bybit.com/v5/public/spot"),
    FuzzConnection(.bybit, .ws, "wss://stream.bybit.com/v5/public/linear"),
    FuzzConnection(.bybit, .ws, "wss://stream.bybit.com/v5/public/inverse"),
    FuzzConnection(.bybit, .rest, "https://api.bybit.com/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=200"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzVenueFrame(data, size, connections: connections)
    return 0
}
