import MarketCore
import Testing

@Suite struct ArrayDrainTests {
    /// A class instance per element: its reference count tells whether drain moved or copied it.
    final class Box { let n: Int; init(_ n: Int) { self.n = n } }

    @Test(arguments: [0, 1, 2, 7])
    func handsOverEveryElementInOrderAndLeavesTheArrayEmptyWithItsCapacity(count: Int) {
        var array = (0..<count).map { Box($0) }
        array.reserveCapacity(16)
        let capacity = array.capacity
        var seen: [Int] = []
        array.drain { seen.append($0.n) }
        #expect(seen == Array(0..<count))
        #expect(array.isEmpty)
        #expect(array.capacity == capacity)
    }

    final class Log { var entries: [String] = [] }
    final class Tracked {
        let n: Int
        let log: Log
        init(_ n: Int, _ log: Log) { (self.n, self.log) = (n, log) }
        deinit { log.entries.append("gone \(n)") }
    }

    @Test func eachElementLeavesTheArrayBeforeTheNextIsHandedOver() {
        // Moved out: once the body is done with an element, nothing holds it (a copy would leave
        // the array owning every element until it is emptied at the end).
        let log = Log()
        var array = (0..<3).map { Tracked($0, log) }
        array.drain { log.entries.append("body \($0.n)") }
        #expect(log.entries == ["body 0", "gone 0", "body 1", "gone 1", "body 2", "gone 2"])
    }

    @Test func elementsAppendedToAnotherArrayInTheBodyAreKept() {
        var array = [Box(1), Box(2)]
        var kept: [Box] = []
        array.drain { kept.append($0) }
        #expect(kept.map(\.n) == [1, 2])
        #expect(array.isEmpty)
    }
}
