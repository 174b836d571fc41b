public import MarketCore

/// A paper-trading user (`users`).
public struct StoredUser: Sendable, Hashable {
    public var id: String
    public var name: String
    public var createdAt: UnixNanos

    public init(id: String, name: String, createdAt: UnixNanos) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// One asset balance of a user (`balances`), e.g. USDC or BTC.
public struct StoredBalance: Sendable, Hashable {
    public var userID: String
    public var asset: String
    public var amount: WideDecimal

    public init(userID: String, asset: String, amount: WideDecimal) {
        self.userID = userID
        self.asset = asset
        self.amount = amount
    }
}

/// A user's position in one instrument (`positions`): signed quantity (long only for spot paper
/// trading), average entry price, and the P&L realized by closing parts of it.
public struct StoredPosition: Sendable, Hashable {
    public var userID: String
    public var venue: String
    public var symbol: String
    public var qty: WideDecimal
    public var avgPrice: WideDecimal
    public var realizedPnL: WideDecimal

    public init(userID: String, venue: String, symbol: String, qty: WideDecimal, avgPrice: WideDecimal, realizedPnL: WideDecimal) {
        self.userID = userID
        self.venue = venue
        self.symbol = symbol
        self.qty = qty
        self.avgPrice = avgPrice
        self.realizedPnL = realizedPnL
    }
}

/// One paper fill (`trades_paper`).
public struct StoredPaperFill: Sendable, Hashable {
    public var time: UnixNanos
    public var userID: String
    public var orderID: String
    public var fillID: String
    public var venue: String
    public var symbol: String
    public var side: Side
    public var qty: WideDecimal
    /// The fill's average price (the VWAP of the levels it took).
    public var price: WideDecimal
    /// In the quote currency.
    public var fee: WideDecimal
    /// Against the mid at execution; nil for fills of resting limit orders.
    public var slippageBps: WideDecimal?
    /// P&L realized by a sell (before fees); nil for buys.
    public var realizedPnL: WideDecimal?

    public init(
        time: UnixNanos, userID: String, orderID: String, fillID: String, venue: String, symbol: String, side: Side,
        qty: WideDecimal, price: WideDecimal, fee: WideDecimal, slippageBps: WideDecimal?, realizedPnL: WideDecimal?
    ) {
        self.time = time
        self.userID = userID
        self.orderID = orderID
        self.fillID = fillID
        self.venue = venue
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.price = price
        self.fee = fee
        self.slippageBps = slippageBps
        self.realizedPnL = realizedPnL
    }
}

/// One mood reading (`agent_status_log`). `factorsJSON` is a JSON object text.
public struct StoredMood: Sendable, Hashable {
    public var time: UnixNanos
    public var userID: String
    public var score: WideDecimal
    public var state: String
    public var factorsJSON: String
    public var reason: String

    public init(time: UnixNanos, userID: String, score: WideDecimal, state: String, factorsJSON: String, reason: String) {
        self.time = time
        self.userID = userID
        self.score = score
        self.state = state
        self.factorsJSON = factorsJSON
        self.reason = reason
    }
}

/// One pre-trade check result (`pretrade_log`). `failuresJSON` is a JSON array text, `requestJSON`
/// the order request as a JSON object text.
public struct StoredPreTrade: Sendable, Hashable {
    public var time: UnixNanos
    public var userID: String
    public var venue: String
    public var symbol: String
    public var passed: Bool
    public var failuresJSON: String
    public var requestJSON: String

    public init(time: UnixNanos, userID: String, venue: String, symbol: String, passed: Bool, failuresJSON: String, requestJSON: String) {
        self.time = time
        self.userID = userID
        self.venue = venue
        self.symbol = symbol
        self.passed = passed
        self.failuresJSON = failuresJSON
        self.requestJSON = requestJSON
    }
}

/// One atomic change of a user's account: the new balances and positions (full values, upserted)
/// and the fills that caused them. Stored in one transaction, so the tables never disagree.
public struct LedgerWrite: Sendable, Hashable {
    public var balances: [StoredBalance]
    public var positions: [StoredPosition]
    public var fills: [StoredPaperFill]
    /// The `updated_at` of the rows written.
    public var time: UnixNanos

    public init(balances: [StoredBalance], positions: [StoredPosition] = [], fills: [StoredPaperFill] = [], time: UnixNanos) {
        self.balances = balances
        self.positions = positions
        self.fills = fills
        self.time = time
    }
}

/// The paper-trading accounts and the services' logs (DESIGN.md "Services"), on the same database
/// as the market data. The services keep the live state in memory and write each change through
/// here; at start-up they load it back.
public protocol AccountStore: Sendable {
    /// Inserts a user; `false` (and nothing changed) when the id exists.
    func createUser(_ user: StoredUser) async throws -> Bool
    /// Stores balances, positions and fills in one transaction (all or nothing). A fill that is
    /// already stored (same user, fill id, time) is not duplicated.
    func commit(_ write: LedgerWrite) async throws
    func logPreTrade(_ record: StoredPreTrade) async throws
    func logMood(_ record: StoredMood) async throws

    func users() async throws -> [StoredUser]
    func balances() async throws -> [StoredBalance]
    func positions() async throws -> [StoredPosition]
    /// A user's fills, newest first; only those at or after `since` when given.
    func paperFills(userID: String, since: UnixNanos?, limit: Int) async throws -> [StoredPaperFill]
    /// A user's mood readings, newest first.
    func moodHistory(userID: String, limit: Int) async throws -> [StoredMood]
    /// A user's pre-trade results, newest first.
    func preTradeLog(userID: String, limit: Int) async throws -> [StoredPreTrade]
}
