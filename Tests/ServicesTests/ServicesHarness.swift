import Bus
import Feeds
import Foundation
import Logging
import MarketCore
import Services
import Storage
import Synchronization
import _TestSupport

/// A services suite on a fresh bus, without a store unless given one, with a controllable clock.
struct Harness {
    let bus = MarketBus()
    let clock = TestClock()
    let suite: ServiceSuite

    init(options: ServiceOptions = ServiceOptions(), store: (any AccountStore)? = nil, authority: TokenAuthority? = nil) {
        let clock = self.clock
        suite = ServiceSuite(options: options, bus: bus, store: store, authority: authority, logger: Logger(label: "test"), clock: { clock.now })
    }

    var execution: ExecutionService { suite.execution }

    /// A user funded with `cash` of the cash asset.
    func user(_ id: String, cash: String) async throws {
        _ = try await execution.createUser(id: id, name: id)
        _ = try await execution.deposit(user: id, asset: execution.options.cashAsset, amount: d(cash))
    }

    func feed(_ e: MarketEvent) { execution.handle(e) }
}

final class TestClock: Sendable {
    private let t = Mutex(UnixNanos.seconds(1_800_000_000))
    var now: UnixNanos { t.withLock { $0 } }
    func advance(seconds: Int64) { t.withLock { $0 = UnixNanos($0.rawValue + seconds * 1_000_000_000) } }
}

func d(_ s: String) -> WideDecimal { WideDecimal.parse(s)! }

/// Exact decimal arithmetic of the tests' own, through Foundation's `Decimal` (38 digits) parsed
/// from the book's printed JSON: independent of WideDecimal and of the fill planner.
func dec(_ s: String) -> Decimal { Decimal(string: s, locale: Locale(identifier: "en_US_POSIX"))! }
func dec(_ w: WideDecimal) -> Decimal { dec(w.description) }

/// The levels of a book snapshot as its replay line prints them.
func printedLevels(_ b: BookSnapshot) -> (bids: [(Decimal, Decimal)], asks: [(Decimal, Decimal)]) {
    let obj = try! JSONSerialization.jsonObject(with: Data(MarketEvent.bookSnapshot(b).jsonLine.utf8)) as! [String: Any]
    func side(_ k: String) -> [(Decimal, Decimal)] { (obj[k] as! [[String]]).map { (dec($0[0]), dec($0[1])) } }
    return (side("bids"), side("asks"))
}

/// A deep, valid, recorded book: the first snapshot of the Binance BTC-USDT capture with 20 levels
/// a side whose first three ask levels hold less than half the bids' depth (a buy of several
/// levels can be sold back into it).
let recordedBook: BookSnapshot = {
    let events = try! ReplayedEvents(paths: [Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz")], emit: [.books])
    return events.snapshots.first { b in
        guard b.valid, b.bids.count >= 20, b.asks.count >= 20 else { return false }
        let (bids, asks) = printedLevels(b)
        return asks.prefix(3).reduce(Decimal(0)) { $0 + $1.1 } < bids.reduce(Decimal(0)) { $0 + $1.1 } / 2
    }!
}()

func book(_ instrument: Instrument = Sample.btc, bids: [(String, String)], asks: [(String, String)], at ms: Int64 = 1_800_000_000_000) -> MarketEvent {
    .bookSnapshot(
        BookSnapshot(
            instrument: instrument, time: .milliseconds(ms),
            bids: bids.map { BookLevel(price: FixedDecimal($0.0)!, quantity: FixedDecimal($0.1)!) },
            asks: asks.map { BookLevel(price: FixedDecimal($0.0)!, quantity: FixedDecimal($0.1)!) }, valid: true))
}
