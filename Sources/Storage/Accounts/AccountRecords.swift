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
    /// What the execution reported and the history shows again (nil on rows stored before
    /// migration 10): the exact Σ price × qty, the levels taken, `market`/`limit`,
    /// `taker`/`resting`, the order's quantity left, the fee's asset and the agent that placed it.
    public var details: Details?

    public struct Details: Sendable, Hashable {
        public var notional: WideDecimal
        public var levels: Int
        public var orderType: String
        public var liquidity: String
        public var remaining: WideDecimal
        public var feeAsset: String
        public var source: String?

        public init(
            notional: WideDecimal, levels: Int, orderType: String, liquidity: String, remaining: WideDecimal, feeAsset: String,
            source: String?
        ) {
            self.notional = notional
            self.levels = levels
            self.orderType = orderType
            self.liquidity = liquidity
            self.remaining = remaining
            self.feeAsset = feeAsset
            self.source = source
        }
    }

    public init(
        time: UnixNanos, userID: String, orderID: String, fillID: String, venue: String, symbol: String, side: Side,
        qty: WideDecimal, price: WideDecimal, fee: WideDecimal, slippageBps: WideDecimal?, realizedPnL: WideDecimal?,
        details: Details? = nil
    ) {
        self.details = details
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

/// One order's pre-trade checks (`pretrade_log`, the issue's `pre_trade_checks_log`). `failuresJSON`
/// is a JSON array text of the failed checks, `checksJSON` of every check run, passed or failed
/// (`[{"check","passed","detail"}]`; empty in rows logged before migration 0015), `requestJSON` the
/// order request as a JSON object text.
public struct StoredPreTrade: Sendable, Hashable {
    public var time: UnixNanos
    public var userID: String
    public var venue: String
    public var symbol: String
    public var passed: Bool
    public var failuresJSON: String
    public var requestJSON: String
    public var checksJSON: String

    public init(
        time: UnixNanos, userID: String, venue: String, symbol: String, passed: Bool, failuresJSON: String, requestJSON: String,
        checksJSON: String = ""
    ) {
        self.checksJSON = checksJSON
        self.time = time
        self.userID = userID
        self.venue = venue
        self.symbol = symbol
        self.passed = passed
        self.failuresJSON = failuresJSON
        self.requestJSON = requestJSON
    }
}

/// One atomic change of a user's account: the new balances and positions (full values, upserted),
/// the fills that caused them, and the resting orders placed or changed (upserted) and closed
/// (deleted). Stored in one transaction, so the tables never disagree: an order that filled is
/// never stored as still resting, and a restart cannot fill it twice.
public struct LedgerWrite: Sendable, Hashable {
    public var balances: [StoredBalance]
    public var positions: [StoredPosition]
    public var fills: [StoredPaperFill]
    public var orders: [StoredRestingOrder]
    /// Ids of resting orders that filled completely or were cancelled.
    public var closedOrders: [String]
    /// The `updated_at` of the rows written.
    public var time: UnixNanos
    /// The double-entry ledger's transactions for this change, stored in the same database
    /// transaction as the rows above (so the books and the accounts never disagree in the store).
    public var ledger: [StoredLedgerTransaction]
    /// Withdrawal requests created or decided by this change (upserted by id).
    public var withdrawals: [StoredWithdrawal]
    /// Performance-fee marks changed by this change (upserted by user and asset).
    public var marks: [StoredPerformanceMark]

    public init(
        balances: [StoredBalance], positions: [StoredPosition] = [], fills: [StoredPaperFill] = [], orders: [StoredRestingOrder] = [],
        closedOrders: [String] = [], time: UnixNanos, ledger: [StoredLedgerTransaction] = [], withdrawals: [StoredWithdrawal] = [],
        marks: [StoredPerformanceMark] = []
    ) {
        self.marks = marks
        self.ledger = ledger
        self.withdrawals = withdrawals
        self.balances = balances
        self.positions = positions
        self.fills = fills
        self.orders = orders
        self.closedOrders = closedOrders
        self.time = time
    }
}

/// A limit order's unfilled part (`resting_orders`), with what it holds back: quote funds
/// including the fee for a buy, base quantity for a sell, in `reservedAsset`. Loading the rows
/// back restores every reservation exactly.
public struct StoredRestingOrder: Sendable, Hashable {
    public var orderID: String
    public var userID: String
    public var venue: String
    public var symbol: String
    public var side: Side
    public var limitPrice: WideDecimal
    public var quantity: WideDecimal
    public var remaining: WideDecimal
    public var reserved: WideDecimal
    public var reservedAsset: String
    public var placed: UnixNanos
    public var source: String?
    /// Fills so far (fill ids are `<order>-<n>`).
    public var fills: Int

    public init(
        orderID: String, userID: String, venue: String, symbol: String, side: Side, limitPrice: WideDecimal, quantity: WideDecimal,
        remaining: WideDecimal, reserved: WideDecimal, reservedAsset: String, placed: UnixNanos, source: String?, fills: Int
    ) {
        self.orderID = orderID
        self.userID = userID
        self.venue = venue
        self.symbol = symbol
        self.side = side
        self.limitPrice = limitPrice
        self.quantity = quantity
        self.remaining = remaining
        self.reserved = reserved
        self.reservedAsset = reservedAsset
        self.placed = placed
        self.source = source
        self.fills = fills
    }
}

/// A user's agent (`agents`): its definition and its counters.
public struct StoredAgent: Sendable, Hashable {
    public var id: String
    public var userID: String
    public var strategy: String
    public var venue: String
    public var symbol: String
    public var quantity: WideDecimal?
    public var quoteAmount: WideDecimal?
    public var created: UnixNanos
    public var orders: Int
    public var rejected: Int
    public var lastResult: String?
    /// The agent hierarchy (migration 0017): nil parent and generation 1 for a top agent.
    public var parentID: String?
    public var generation: Int
    /// What its sub-account was funded with; nil when it trades its user's own balance.
    public var allocation: WideDecimal?
    /// Children spawned so far (the next spawn threshold is (spawned + 1) × the step).
    public var spawned: Int

    public init(
        id: String, userID: String, strategy: String, venue: String, symbol: String, quantity: WideDecimal?, quoteAmount: WideDecimal?,
        created: UnixNanos, orders: Int, rejected: Int, lastResult: String?, parentID: String? = nil, generation: Int = 1,
        allocation: WideDecimal? = nil, spawned: Int = 0
    ) {
        self.parentID = parentID
        self.generation = generation
        self.allocation = allocation
        self.spawned = spawned
        self.id = id
        self.userID = userID
        self.strategy = strategy
        self.venue = venue
        self.symbol = symbol
        self.quantity = quantity
        self.quoteAmount = quoteAmount
        self.created = created
        self.orders = orders
        self.rejected = rejected
        self.lastResult = lastResult
    }
}

/// A journal entry the database refused for good (`journal_dead_letters`): kept, with the
/// refusal, instead of holding up every later write.
public struct StoredDeadLetter: Sendable, Hashable {
    public var time: UnixNanos
    /// The entry's kind (`user`, `ledger`, `pretrade`, `mood`, `agent`, `agent_removed`).
    public var kind: String
    /// The entry as JSON text; control characters are escaped (`\u0000`), so any entry can be kept.
    public var payload: String
    public var error: String

    public init(time: UnixNanos, kind: String, payload: String, error: String) {
        self.time = time
        self.kind = kind
        self.payload = payload
        self.error = error
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
    /// Inserts or replaces an agent (by id).
    func saveAgent(_ agent: StoredAgent) async throws
    func removeAgent(id: String) async throws
    /// Keeps an entry the database refused (never throws for the entry's content).
    func deadLetter(_ letter: StoredDeadLetter) async throws

    func users() async throws -> [StoredUser]
    func balances() async throws -> [StoredBalance]
    func positions() async throws -> [StoredPosition]
    func restingOrders() async throws -> [StoredRestingOrder]
    func agents() async throws -> [StoredAgent]
    /// Dead letters, oldest first.
    func deadLetters(limit: Int) async throws -> [StoredDeadLetter]
    /// A user's fills, newest first; only those at or after `since` when given.
    func paperFills(userID: String, since: UnixNanos?, limit: Int) async throws -> [StoredPaperFill]
    /// A user's mood readings, newest first.
    func moodHistory(userID: String, limit: Int) async throws -> [StoredMood]
    /// A user's pre-trade results, newest first.
    func preTradeLog(userID: String, limit: Int) async throws -> [StoredPreTrade]
}
