@testable import Feeds
import Testing

/// The make-before-break switch: two connections carrying the same stream, offset either way;
/// the forwarded frames must be the stream exactly once, in order.
@Suite("RotationGate")
struct RotationGateTests {
    func frame(_ n: Int) -> [UInt8] { Array("frame-\(n)".utf8) }

    /// Old delivers 1...`oldUpTo`; the new connection joins at `newFrom` and both deliver in an interleaving.
    func run(oldUpTo: Int, newFrom: Int, total: Int, newFirst: Bool) -> (forwarded: [Int], retired: Int?) {
        var gate = RotationGate()
        var out: [Int] = []
        var retired: Int? = nil
        func take(_ d: RotationGate.Decision) {
            switch d {
            case .forward(let fs): out += fs.map { Int(String(decoding: $0.frame, as: UTF8.self).dropFirst(6))! }
            case .switchOver(let fs, let r):
                out += fs.map { Int(String(decoding: $0.frame, as: UTF8.self).dropFirst(6))! }
                retired = r
            }
        }
        gate.connected(1)
        for n in 1...oldUpTo { take(gate.deliver(1, frame(n), time: Int64(n))) }
        gate.beginRotation(to: 2)
        var o = oldUpTo + 1
        var m = newFrom
        while o <= total || m <= total {
            let order = newFirst ? [2, 1] : [1, 2]
            for c in order {
                if c == 1, o <= total, retired == nil { take(gate.deliver(1, frame(o), time: Int64(o))); o += 1 }
                if c == 2, m <= total { take(gate.deliver(2, frame(m), time: Int64(m))); m += 1 }
            }
            if retired != nil { o = total + 1 }
        }
        return (out, retired)
    }

    @Test(arguments: [(10, 5), (10, 8), (10, 10), (10, 11), (10, 13)])
    func switchesWithoutLossOrDuplicate(oldUpTo: Int, newFrom: Int) {
        for newFirst in [false, true] {
            let r = run(oldUpTo: oldUpTo, newFrom: newFrom, total: 40, newFirst: newFirst)
            #expect(r.retired == 1, "old=\(oldUpTo) new=\(newFrom) newFirst=\(newFirst)")
            #expect(r.forwarded == Array(1...40), "old=\(oldUpTo) new=\(newFrom) newFirst=\(newFirst): \(r.forwarded)")
        }
    }

    @Test func aCandidateThatFailsLeavesTheOldConnection() {
        var gate = RotationGate()
        gate.connected(1)
        _ = gate.deliver(1, frame(1), time: 1)
        gate.beginRotation(to: 2)
        #expect(gate.deliver(2, frame(7), time: 7) == .forward([]))
        gate.disconnected(2)
        #expect(gate.current == 1 && !gate.isRotating)
        #expect(gate.deliver(1, frame(2), time: 2) == .forward([.init(frame: frame(2), time: 2)]))
    }
}
