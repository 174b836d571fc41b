public import MarketCore

/// Who earns from a performance fee paid by a derived strategy's agents.
public struct RoyaltyPolicy: Sendable, Hashable {
    /// Each ancestor creator's share of the fee (0.05 = 5 %).
    public var share = WideDecimal.parse("0.05")!
    /// Ancestors paid: the parent is generation 1. Beyond this depth the parent links stay (lineage
    /// is shown whole) but royalties stop.
    public var generations = 3

    public init() {}

    /// The royalty transaction for a performance `fee` already credited to the house fee account:
    /// the house pays each of the first ``generations`` ancestors' creators `fee × share` (half-even,
    /// 18 digits) into their available balance. A creator who appears at several depths is paid once
    /// per depth, in one posting. `nil` when there is no ancestor or the fee is not positive.
    ///
    /// - Parameter ancestorCreators: creators of the parent, the grandparent, … nearest first.
    public func transaction(
        id: String, time: UnixNanos, asset: String, fee: WideDecimal, ancestorCreators: [String]
    ) throws(LedgerError) -> LedgerTransaction? {
        guard fee.isPositive, generations > 0, !ancestorCreators.isEmpty else { return nil }
        let each = try Money.fee(fee, rate: share, "royalty")
        guard each.isPositive else { return nil }
        var owed: [String: WideDecimal] = [:]
        var order: [String] = []
        for creator in ancestorCreators.prefix(generations) {
            if owed[creator] == nil { order.append(creator) }
            owed[creator] = try Money.add(owed[creator] ?? .zero, each, "royalty")
        }
        var total = WideDecimal.zero
        var postings: [LedgerPosting] = []
        for creator in order {
            postings.append(LedgerPosting(.user(creator, .available, asset), owed[creator]!))
            total = try Money.add(total, owed[creator]!, "royalties")
        }
        postings.insert(LedgerPosting(.house(.houseFees, asset), total.negated), at: 0)
        return LedgerTransaction(
            id: id, time: time, kind: .royalty, memo: "royalties on a performance fee of \(fee) \(asset)", postings: postings)
    }
}
