import Testing

@testable import NATS

/// The ordered consumer's rule for each delivery, driven with the sequences a server sends.
@Suite struct OrderedCursorTests {
    @Test func inOrderDeliveriesPassAndMoveTheCursor() {
        var cursor = OrderedCursor(lastStreamSequence: 0)
        for (cseq, sseq) in zip(1...5 as ClosedRange<UInt64>, [3, 4, 7, 8, 20] as [UInt64]) {
            #expect(cursor.accept(consumerSequence: cseq, streamSequence: sseq) == .deliver)
        }
        #expect(cursor.lastStreamSequence == 20)
        #expect(cursor.checkHeartbeat(lastConsumerSequence: 5) == nil)
        #expect(cursor.checkHeartbeat(lastConsumerSequence: 6) != nil)
        #expect(cursor.restartPosition(else: .all) == .sequence(21))
    }

    @Test func aConsumerSequenceGapRestartsAfterTheLastDeliveredMessage() {
        var cursor = OrderedCursor(lastStreamSequence: 0)
        #expect(cursor.restartPosition(else: .new) == .new)
        #expect(cursor.accept(consumerSequence: 1, streamSequence: 10) == .deliver)
        guard case .restart = cursor.accept(consumerSequence: 3, streamSequence: 12) else {
            Issue.record("a skipped consumer sequence must restart")
            return
        }
        #expect(cursor.lastStreamSequence == 10)
        #expect(cursor.restartPosition(else: .all) == .sequence(11))
        cursor.restarted()
        #expect(cursor.accept(consumerSequence: 1, streamSequence: 11) == .deliver)
    }

    /// What a CI run saw after a stream leader was killed: the new server consumer delivered stream
    /// sequence 99 again with an unbroken consumer sequence. The reader must see 99 once.
    @Test func aStreamSequenceAlreadyDeliveredIsDroppedOnce() {
        var cursor = OrderedCursor(lastStreamSequence: 0)
        var delivered: [UInt64] = []
        var duplicates = 0
        let deliveries: [(UInt64, UInt64)] = [(1, 97), (2, 98), (3, 99), (4, 99), (5, 100), (6, 98), (7, 101)]
        for (cseq, sseq) in deliveries {
            switch cursor.accept(consumerSequence: cseq, streamSequence: sseq) {
            case .deliver: delivered.append(sseq)
            case .duplicate: duplicates += 1
            case .restart(let reason): Issue.record("unexpected restart: \(reason)")
            }
        }
        #expect(delivered == [97, 98, 99, 100, 101])
        #expect(duplicates == 2)
        // A duplicate still counts as a delivery of this consumer: the heartbeat agrees.
        #expect(cursor.checkHeartbeat(lastConsumerSequence: 7) == nil)
    }
}
