import MarketCore
import VenueFuzzing

let connections: [FuzzConnection] = [
    FuzzConnection(.binance, .ws, "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/btcusdt@aggTrade/btcusdt@trade/btcusdt@bookTicker"),
    FuzzConnection(.binanceUSDM, .ws, "wss://fstream.binance.com/stream?streams=sushiusdt@aggTrade/sushiusdt@depth@100ms"),
    FuzzConnection(.binanceCOINM, .ws, "wss://dstream.binance.com/stream?streams=btcusd_perp@aggTrade/btcusd_perp@depth@100ms"),
    FuzzConnection(.binance, .rest, "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"),
    FuzzConnection(.binanceUSDM, .rest, "https://fapi.binance.com/fapi/v1/depth?symbol=SUSHIUSDT&limit=1000"),
    FuzzConnection(.binanceCOINM, .rest, "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000"),
    FuzzConnection(.binance, .rest, "https://api.binance.com/api/v3/aggTrades?symbol=BTCUSDT&fromId=1"),
    FuzzConnection(.binance, .rest, "https://api.binance.com/api/v3/historicalTrades?symbol=BTCUSDT&fromId=1"),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzVenueFrame(data, size, connections: connections)
    return 0
}
