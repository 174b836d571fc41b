public import MarketCore

/// Whose account: one user's, or the house's (the operator of the pooled wallet).
public enum LedgerOwner: Sendable, Hashable, Comparable, CustomStringConvertible {
    case user(String)
    case house

    public var description: String {
        switch self {
        case .user(let id): "user:\(id)"
        case .house: "house"
        }
    }

    public var userID: String? {
        if case .user(let id) = self { return id }
        return nil
    }
}

/// What an account holds. The first three belong to users, the rest to the house.
///
/// Sign convention: a balance is what the books owe the account's owner in that asset. Users'
/// accounts and the fee account are normally positive; the pool is the mirror of the money held in
/// the pooled wallet, so it is normally negative (−(deposits − withdrawals)); the paper
/// counterparty is minus the users' paper P&L in that asset (see ``LedgerReconciliation``).
public enum LedgerAccountKind: String, Sendable, Hashable, Comparable, CaseIterable {
    /// A user's spendable balance of an asset (cash).
    case available
    /// A user's balance promised to open orders or pending withdrawals.
    case reserved
    /// A user's holding of a traded asset (bought on paper).
    case holding
    /// The pooled wallet's deposits: −(deposited − withdrawn).
    case housePool = "house_pool"
    /// Fees the house has earned.
    case houseFees = "house_fees"
    /// The paper market: the other side of every fill.
    case paperCounterparty = "paper_counterparty"
    /// Money that arrived but could not be matched to a user yet.
    case suspense

    public var isUserKind: Bool { self == .available || self == .reserved || self == .holding }

    public static func < (a: LedgerAccountKind, b: LedgerAccountKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One account of the ledger: an owner, a kind and an asset (`USDC`, `BTC`).
public struct LedgerAccount: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var owner: LedgerOwner
    public var kind: LedgerAccountKind
    public var asset: String

    public init(owner: LedgerOwner, kind: LedgerAccountKind, asset: String) {
        self.owner = owner
        self.kind = kind
        self.asset = asset
    }

    public static func user(_ id: String, _ kind: LedgerAccountKind, _ asset: String) -> LedgerAccount {
        LedgerAccount(owner: .user(id), kind: kind, asset: asset)
    }

    public static func house(_ kind: LedgerAccountKind, _ asset: String) -> LedgerAccount {
        LedgerAccount(owner: .house, kind: kind, asset: asset)
    }

    public var description: String { "\(owner)/\(kind.rawValue)/\(asset)" }

    public static func < (a: LedgerAccount, b: LedgerAccount) -> Bool {
        (a.asset, a.owner, a.kind) < (b.asset, b.owner, b.kind)
    }
}

/// Why a ledger transaction was posted.
public enum LedgerTransactionKind: String, Sendable, Hashable, CaseIterable {
    case deposit, fee, fill, withdrawal, transfer, royalty, adjustment
}

/// One leg of a transaction: a signed amount added to one account's balance.
public struct LedgerPosting: Sendable, Hashable {
    public var account: LedgerAccount
    public var amount: WideDecimal

    public init(_ account: LedgerAccount, _ amount: WideDecimal) {
        self.account = account
        self.amount = amount
    }

    public var asset: String { account.asset }
}

/// A set of postings that sum to zero per asset, applied all together or not at all.
public struct LedgerTransaction: Sendable, Hashable {
    public var id: String
    public var time: UnixNanos
    public var kind: LedgerTransactionKind
    public var memo: String
    public var postings: [LedgerPosting]

    public init(id: String, time: UnixNanos, kind: LedgerTransactionKind, memo: String = "", postings: [LedgerPosting]) {
        self.id = id
        self.time = time
        self.kind = kind
        self.memo = memo
        self.postings = postings
    }
}

/// Why the ledger refused a transaction (nothing was changed).
public struct LedgerPostingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The postings of an asset do not sum to zero.
        case unbalanced
        /// The transaction has no postings.
        case empty
        /// A posting of zero, or one whose amount (or the balance it makes) leaves the ledger's
        /// range (``Money``: magnitude under 10^20, at most 18 fraction digits).
        case invalidAmount = "invalid_amount"
        /// An empty id, asset or user id, or an account kind its owner cannot have.
        case invalidAccount = "invalid_account"
        /// A transaction with this id is already in the ledger.
        case duplicateID = "duplicate_id"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
