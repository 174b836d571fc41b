import Crypto
import Foundation
import Logging
public import MarketCore
import Metrics
public import Storage
import Synchronization

/// Deposits into the pooled wallet, on paper (issue 22, docs/trading.md "Deposits by webhook"):
/// a user asks for a reference; the wallet's webhook, signed with a shared secret, reports money
/// that arrived with that reference, and the user is credited once per transaction hash (less the
/// deposit fee, which goes to the house fee account). A delivery that names no known reference, or
/// that cannot be read, is never dropped: it is kept for ops (``suspense()``), and its money, when
/// its amount is readable, goes to the house suspense account.
public final class DepositService: Sendable {
    public struct Options: Sendable {
        /// HMAC-SHA256 key of the webhook; empty: the webhook is refused (503).
        public var secret = ""
        /// How far a webhook's timestamp may be from now, either way.
        public var window: Duration = .seconds(300)
        /// Share of each deposit that goes to the house fee account (0.05 = 5 %).
        public var feeRate = WideDecimal.parse("0.05")!
        public init() {}
    }

    public enum AuthFailure: Error, Sendable, Hashable, CustomStringConvertible {
        case notConfigured
        case badSignature(String)
        case staleTimestamp(String)

        public var description: String {
            switch self {
            case .notConfigured: "no webhook secret is configured (services.deposit_webhook_secret)"
            case .badSignature(let m), .staleTimestamp(let m): m
            }
        }
    }

    public enum Outcome: Sendable, Hashable {
        case credited(txHash: String, asset: String, amount: WideDecimal, fee: WideDecimal, stored: Bool)
        case duplicate(txHash: String)
        case suspense(key: String, reason: String)
    }

    public let options: Options
    let execution: ExecutionService
    let store: (any DepositStore)?
    private let logger: Logger
    private let intents = Mutex<[String: StoredDepositIntent]>([:])
    private let held = Mutex<[String: StoredSuspenseDeposit]>([:])
    /// Suspense deposits assigned to a user, by key (rebuilt from the ledger by ``load()``).
    private let assigned = Mutex<[String: Assignment]>([:])

    public init(options: Options, execution: ExecutionService, store: (any DepositStore)?, logger: Logger) {
        self.options = options
        self.execution = execution
        self.store = store
        self.logger = logger
    }

    /// Loads the stored references and suspense deposits.
    public func load() async throws {
        guard let store else { return }
        let stored = try await store.depositIntents()
        let suspense = try await store.suspenseDeposits()
        intents.withLock { m in for i in stored { m[i.reference] = i } }
        held.withLock { m in for d in suspense { m[d.key] = d } }
        loadAssignments()
    }

    /// Which suspense deposits were assigned, from the books' `suspense-assign-<key>` transactions
    /// (the ledger is the record: no table of its own).
    public func loadAssignments() {
        let prefix = Self.assignmentPrefix
        let found = execution.books.withLedger { l -> [String: Assignment] in
            var out: [String: Assignment] = [:]
            for t in l.transactions where t.id.hasPrefix(prefix) {
                if let a = Self.assignment(t) { out[a.key] = a }
            }
            return out
        }
        assigned.withLock { $0 = found }
    }

    // MARK: intents

    /// A new reference for `user` (stored before it is returned).
    public func createIntent(user: String, asset: String) async throws -> StoredDepositIntent {
        var bytes = [UInt8](repeating: 0, count: 12)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let intent = StoredDepositIntent(
            reference: "dep_" + bytes.map { String(format: "%02x", $0) }.joined(), userID: user, asset: asset, created: execution.now)
        try await store?.saveDepositIntent(intent)
        intents.withLock { $0[intent.reference] = intent }
        return intent
    }

    public func intent(_ reference: String) -> StoredDepositIntent? { intents.withLock { $0[reference] } }

    // MARK: the webhook

    /// Checks `X-Deposit-Signature` (`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body),
    /// compared in constant time) and `X-Deposit-Timestamp` (Unix seconds within ``Options/window``
    /// of `now`).
    public func authenticate(timestamp: String?, signature: String?, body: [UInt8], now: UnixNanos) -> AuthFailure? {
        guard !options.secret.isEmpty else { return .notConfigured }
        guard let timestamp, let seconds = Int64(timestamp), timestamp.utf8.count <= 12 else {
            return .staleTimestamp("X-Deposit-Timestamp: required, Unix seconds")
        }
        let window = options.window.components.seconds
        let nowSeconds = now.rawValue / 1_000_000_000
        guard abs(nowSeconds - seconds) <= window else {
            return .staleTimestamp("X-Deposit-Timestamp \(seconds) is more than \(window) s from now")
        }
        guard var text = signature else { return .badSignature("X-Deposit-Signature: required (sha256=<hex>)") }
        if text.hasPrefix("sha256=") { text.removeFirst(7) }
        guard let mac = Self.hex(text), mac.count == SHA256.byteCount else {
            return .badSignature("X-Deposit-Signature: not 64 hex digits")
        }
        let key = SymmetricKey(data: Array(options.secret.utf8))
        let signed = Array(timestamp.utf8) + [UInt8(ascii: ".")] + body
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: key) else {
            return .badSignature("X-Deposit-Signature does not match")
        }
        return nil
    }

    /// The signature header value for `body` at `timestamp` (tests and tools that play the wallet).
    public static func signature(secret: String, timestamp: String, body: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array(timestamp.utf8) + [UInt8(ascii: ".")] + body, using: SymmetricKey(data: Array(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    private static func hex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = Self.nibble(u[i]), let l = Self.nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// An authenticated delivery: `{"tx_hash","reference","asset","amount"}`. Credits the
    /// reference's user once per transaction hash (the ledger transaction `webhook-<hash>`), or
    /// holds it in suspense. Throws only when the store cannot keep a suspense record (the sender
    /// should deliver again).
    public func receive(body: [UInt8]) async throws -> Outcome {
        let now = execution.now
        let text = String(decoding: body, as: UTF8.self)
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        let hash = (object?["tx_hash"] as? String).map { $0.lowercased() }
        let validHash = hash.flatMap { h in
            h.utf8.count <= 128 && !h.isEmpty && h.utf8.allSatisfy { Self.isHashByte($0) } ? h : nil
        }
        let reference = object?["reference"] as? String
        let assetText = object?["asset"] as? String
        let amountText = object?["amount"] as? String
        let key = validHash ?? "body-" + SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        let id = "webhook-\(key)"

        func hold(_ reason: String, asset: String? = nil, amount: WideDecimal? = nil) async throws -> Outcome {
            let record = StoredSuspenseDeposit(
                key: key, received: now, txHash: validHash, reference: reference, asset: asset, amount: amount, reason: reason, body: text)
            try await store?.saveSuspenseDeposit(record)
            let first = held.withLock { m -> Bool in
                guard m[key] == nil else { return false }
                m[key] = record
                return true
            }
            if let asset, let amount {
                do {
                    _ = try await execution.holdInSuspense(asset: asset, amount: amount, transaction: id, memo: "suspense: \(reason)")
                } catch {
                    logger.error("suspense deposit refused by the ledger", metadata: ["key": "\(key)", "error": "\(error)"])
                }
            }
            if first {
                logger.warning("deposit held in suspense", metadata: ["key": "\(key)", "reason": "\(reason)"])
                Counter(label: "deposit_webhooks_total", dimensions: [("result", "suspense")]).increment()
            }
            return .suspense(key: key, reason: reason)
        }

        guard object != nil else { return try await hold("malformed: the body is not one JSON object") }
        guard validHash != nil else { return try await hold("malformed: tx_hash missing or not 1–128 of A–Z, a–z, 0–9, x, _, -, :") }
        guard let amountText, let amount = WideDecimal.parse(amountText), amount.isPositive, (try? Money.checked(amount, "amount")) != nil
        else {
            return try await hold("malformed: amount missing, not a positive decimal string, or beyond the ledger's range")
        }
        guard let assetText, execution.assetProblem(assetText) == nil else {
            return try await hold("malformed: asset missing or not a known asset", amount: nil)
        }
        let asset = assetText
        guard let reference, let intent = intent(reference) else {
            return try await hold("unmatched: no deposit intent has reference \(reference.map { "'\($0.prefix(80))'" } ?? "(none)")", asset: asset, amount: amount)
        }
        guard intent.asset == asset else {
            return try await hold("unmatched: reference \(reference) is for \(intent.asset), not \(asset)", asset: asset, amount: amount)
        }
        let fee: WideDecimal
        do { fee = try Money.fee(amount, rate: options.feeRate) } catch {
            return try await hold("fee cannot be computed: \(error)", asset: asset, amount: amount)
        }
        do {
            switch try await execution.creditDeposit(
                user: intent.userID, asset: asset, amount: amount, fee: fee, transaction: id, memo: "webhook deposit \(reference)")
            {
            case .duplicate:
                Counter(label: "deposit_webhooks_total", dimensions: [("result", "duplicate")]).increment()
                return .duplicate(txHash: key)
            case .credited(_, let stored):
                Counter(label: "deposit_webhooks_total", dimensions: [("result", "credited")]).increment()
                return .credited(txHash: key, asset: asset, amount: amount, fee: fee, stored: stored)
            }
        } catch {
            return try await hold("not credited: \(error)", asset: asset, amount: amount)
        }
    }

    private static func isHashByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ":")
    }

    /// An assignment as its ledger transaction records it.
    static func assignment(_ t: LedgerTransaction) -> Assignment? {
        guard t.id.hasPrefix(assignmentPrefix), let credit = t.postings.first(where: { $0.account.kind == .available }),
            let user = credit.account.owner.userID, let debit = t.postings.first(where: { $0.account.kind == .suspense })
        else { return nil }
        let fee = t.postings.first { $0.account.kind == .houseFees }?.amount ?? .zero
        return Assignment(
            key: String(t.id.dropFirst(assignmentPrefix.count)), user: user, asset: credit.asset, amount: debit.amount.negated, fee: fee,
            credited: credit.amount, transaction: t.id, time: t.time)
    }

    // MARK: assigning suspense deposits (ops)

    static let assignmentPrefix = "suspense-assign-"

    /// A suspense deposit moved to a user.
    public struct Assignment: Sendable, Hashable {
        public var key: String
        public var user: String
        public var asset: String
        public var amount: WideDecimal
        public var fee: WideDecimal
        /// amount − fee: what the user's available balance got.
        public var credited: WideDecimal
        public var transaction: String
        public var time: UnixNanos
        /// The user's new balance of the asset (nil when read back from the ledger).
        public var balance: WideDecimal?
        /// Whether the journal stored it within its bound (always true when read back).
        public var stored = true
    }

    public enum AssignError: Error, Sendable, Hashable {
        case notFound
        case unknownUser
        /// Assigned before (to this user or another): nothing changed.
        case alreadyAssigned(Assignment?)
        /// Its asset or amount could not be read, so nothing was held in the ledger.
        case notAssignable(String)
        case refused(String)
    }

    /// Moves the suspense deposit `key` to `user`, less the deposit fee (as a matched deposit would
    /// have been), as one balanced ledger transaction `suspense-assign-<key>`: exactly once,
    /// concurrent calls and restarts included (the ledger's id decides).
    public func assign(key: String, to user: String) async throws(AssignError) -> Assignment {
        guard let record = held.withLock({ $0[key] }) else { throw .notFound }
        guard let asset = record.asset, let amount = record.amount else {
            throw .notAssignable("deposit \(key) has no readable asset and amount, so nothing of it is held (\(record.reason))")
        }
        guard !SubAccount.isSubAccount(user), execution.account(user) != nil else { throw .unknownUser }
        let fee: WideDecimal
        do { fee = try Money.fee(amount, rate: options.feeRate) } catch { throw .refused("fee cannot be computed: \(error)") }
        let id = Self.assignmentPrefix + key
        let result: (balance: WideDecimal, stored: Bool)
        do {
            result = try await execution.assignSuspense(
                held: "webhook-\(key)", user: user, asset: asset, amount: amount, fee: fee, transaction: id,
                memo: "suspense deposit \(key) assigned to \(user)")
        } catch {
            switch error {
            case .alreadyAssigned:
                Counter(label: "deposit_suspense_assignments_total", dimensions: [("result", "already_assigned")]).increment()
                // The winner may still be waiting for its store: then the books say who it was.
                let earlier = assigned.withLock { $0[key] } ?? execution.books.withLedger { l in
                    l.transactions.last { $0.id == id }.flatMap(Self.assignment)
                }
                throw .alreadyAssigned(earlier)
            case .unknownUser: throw .unknownUser
            case .notHeld(let why): throw .notAssignable(why)
            case .refused(let e): throw .refused("\(e)")
            }
        }
        var a = Assignment(
            key: key, user: user, asset: asset, amount: amount, fee: fee, credited: (amount.subtracting(fee) ?? amount).trimmed, transaction: id,
            time: execution.now)
        a.balance = result.balance
        a.stored = result.stored
        assigned.withLock { $0[key] = a }
        Counter(label: "deposit_suspense_assignments_total", dimensions: [("result", "assigned")]).increment()
        logger.notice("suspense deposit assigned", metadata: ["key": "\(key)", "user": "\(user)", "amount": "\(amount)", "asset": "\(asset)"])
        return a
    }

    /// The assignment of suspense deposit `key`, if it was assigned.
    public func assignment(_ key: String) -> Assignment? { assigned.withLock { $0[key] } }

    /// Deposits held for ops, oldest first.
    public func suspense() -> [StoredSuspenseDeposit] {
        held.withLock { Array($0.values) }.sorted { ($0.received, $0.key) < ($1.received, $1.key) }
    }
}
