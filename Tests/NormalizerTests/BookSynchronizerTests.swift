import MarketCore
import Normalizer
import Testing

private let inst = Instrument(venue: .okx, base: "BTC", quote: "USDT", nativeSymbol: "BTC-USDT")

private func level(_ p: String, _ q: String) -> BookLevel { BookLevel(price: FixedDecimal(p)!, quantity: FixedDecimal(q)!) }

/// A toy checksum for the tests: CRC32 of "price:qty" texts of the best `depth` bids then asks.
private struct TextChecksum: BookChecksumAlgorithm {
    var name: String { "test" }
    var depth: Int { 2 }
    func checksum(bids: [BookLevel], asks: [BookLevel]) -> UInt32 {
        CRC32.checksum((bids + asks).map { "\($0.price):\($0.quantity)" }.joined(separator: "|").utf8)
    }
}

private func update(
    snapshot: Bool = false, bids: [BookLevel] = [], asks: [BookLevel] = [], _ sequence: BookSequence,
    rule: BookSyncRule = .inStreamSequenced, checksumOf expectedBook: ([BookLevel], [BookLevel])? = nil, depthLimit: Int? = nil
) -> BookUpdate {
    let check = expectedBook.map { ChecksumCheck(expected: TextChecksum().checksum(bids: $0.0, asks: $0.1), algorithm: TextChecksum()) }
    return BookUpdate(instrument: inst, isSnapshot: snapshot, bids: bids, asks: asks, sequence: sequence, rule: rule,
                      eventTime: UnixNanos(0), receiveTime: UnixNanos(0), checksum: check, depthLimit: depthLimit)
}

@Suite("BookSynchronizer in-stream rules")
struct BookSynchronizerTests {
    @Test func contiguousSequenceNumbersAndAGap() {
        var s = BookSynchronizer(instrument: inst)
        var out: [BookSyncOutcome] = []
        s.handle(update(bids: [level("1", "1")], .sequence(5)), into: &out)
        #expect(out.isEmpty && !s.isValid)  // a delta before any snapshot means nothing
        s.handle(update(snapshot: true, bids: [level("1", "1")], asks: [level("2", "1")], .sequence(10)), into: &out)
        s.handle(update(bids: [level("1", "3")], .sequence(11)), into: &out)
        s.handle(update(bids: [level("1", "9")], .sequence(11)), into: &out)  // duplicate: ignored
        #expect(s.isValid && s.book.bestBid == level("1", "3"))
        s.handle(update(bids: [level("1", "4")], .sequence(13)), into: &out)
        #expect(!s.isValid)
        #expect(out.count == 3)
        guard case .synced = out[0], case .gap(let d) = out[1], case .resyncRequested = out[2] else {
            Issue.record("\(out)")
            return
        }
        #expect(d.contains("after 11"))
        // The next snapshot restores it.
        out.removeAll()
        s.handle(update(snapshot: true, bids: [level("1", "1")], asks: [level("2", "1")], .sequence(20)), into: &out)
        #expect(s.isValid)
        guard case .resynced = out.first else {
            Issue.record("\(out)")
            return
        }
    }

    @Test func linkedSequencesFollowPreviousIDs() {
        var s = BookSynchronizer(instrument: inst)
        var out: [BookSyncOutcome] = []
        s.handle(update(snapshot: true, bids: [level("1", "1")], asks: [level("2", "1")], .linked(first: 100, last: 100, previous: -1)), into: &out)
        s.handle(update(asks: [level("2", "5")], .linked(first: 107, last: 107, previous: 100)), into: &out)
        #expect(s.isValid && s.book.bestAsk == level("2", "5"))
        s.handle(update(asks: [level("2", "6")], .linked(first: 120, last: 120, previous: 110)), into: &out)
        #expect(!s.isValid)
        #expect(out.contains { if case .gap = $0 { true } else { false } })
    }

    @Test func checksumsAreVerifiedAfterEveryUpdateAndAFailureInvalidates() {
        var s = BookSynchronizer(instrument: inst)
        var out: [BookSyncOutcome] = []
        let b1 = [level("10", "1"), level("9", "2")]
        let a1 = [level("11", "1"), level("12", "2")]
        s.handle(update(snapshot: true, bids: b1 + [level("8", "1")], asks: a1, .unsequenced, rule: .unsequenced, checksumOf: (b1, a1)), into: &out)
        // After the update the top two bids are 10/3 and 9/2.
        s.handle(update(bids: [level("10", "3")], .unsequenced, rule: .unsequenced, checksumOf: ([level("10", "3"), level("9", "2")], a1)), into: &out)
        #expect(s.isValid)
        #expect(out.filter { $0 == .checksumPassed }.count == 2)
        // The venue's checksum says the bid is 10/4: our book disagrees.
        out.removeAll()
        s.handle(update(bids: [level("9", "1")], .unsequenced, rule: .unsequenced, checksumOf: ([level("10", "4"), level("9", "1")], a1)), into: &out)
        #expect(!s.isValid)
        guard case .checksumFailed(let d) = out.first, case .resyncRequested = out.last else {
            Issue.record("\(out)")
            return
        }
        #expect(d.hasPrefix("test checksum mismatch"))
        // Further deltas change nothing until a snapshot.
        out.removeAll()
        s.handle(update(bids: [level("9", "7")], .unsequenced, rule: .unsequenced), into: &out)
        #expect(out.isEmpty && !s.isValid)
    }

    @Test func depthLimitDropsLevelsOutsideTheWindow() {
        var s = BookSynchronizer(instrument: inst)
        var out: [BookSyncOutcome] = []
        s.handle(update(snapshot: true, bids: [level("10", "1"), level("9", "1")], asks: [level("11", "1"), level("12", "1")], .unsequenced, rule: .unsequenced, depthLimit: 2), into: &out)
        s.handle(update(bids: [level("10.5", "1")], asks: [level("10.9", "1")], .unsequenced, rule: .unsequenced, depthLimit: 2), into: &out)
        #expect(s.book.levels(.buy).map(\.price) == [FixedDecimal("10.5")!, FixedDecimal("10")!])
        #expect(s.book.levels(.sell).map(\.price) == [FixedDecimal("10.9")!, FixedDecimal("11")!])
    }

    @Test func aCrossedBookIsNotValidAndRecovers() {
        var s = BookSynchronizer(instrument: inst)
        var out: [BookSyncOutcome] = []
        s.handle(update(snapshot: true, bids: [level("10", "1")], asks: [level("11", "1")], .unsequenced, rule: .unsequenced), into: &out)
        s.handle(update(bids: [level("11", "1")], .unsequenced, rule: .unsequenced), into: &out)
        #expect(!s.isValid && s.isCrossed)
        s.handle(update(bids: [level("11", "0")], .unsequenced, rule: .unsequenced), into: &out)
        #expect(s.isValid)
        #expect(out.contains { if case .crossed = $0 { true } else { false } } && out.last == .uncrossed)
    }
}
