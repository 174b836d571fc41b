/// Decides which connection's frames reach the pipeline, and when a make-before-break rotation
/// switches from the old connection to the new one. Pure; the session calls it under its lock.
///
/// Both connections carry the same stream, so their frames are byte-identical. While rotating, the
/// old connection's frames are forwarded and the new one's are held back. The switch happens at the
/// first frame seen on both: if the new connection delivers a frame the old one already forwarded,
/// it is behind or level, and from then on its frames are forwarded except those already forwarded;
/// if the old connection forwards a frame the new one already holds, the new one is ahead, and the
/// frames it holds after that one are forwarded first. Either way nothing is lost or sent twice.
struct RotationGate {
    private(set) var current: Int?
    private(set) var candidate: Int?
    /// Hashes of frames the old connection forwarded since the rotation began.
    private var forwarded: Set<Int> = []
    private var forwardedOrder: [Int] = []
    /// Frames the new connection delivered before the switch.
    private var held: [(hash: Int, frame: [UInt8], time: Int64)] = []
    /// After a switch: frames of the new connection already forwarded by the old one are skipped
    /// until the first fresh frame.
    private var skipping: Set<Int> = []
    let limit: Int

    init(limit: Int = 50_000) { self.limit = limit }

    enum Decision: Equatable {
        /// Forward these frames (with their receive times), in order.
        case forward([Frame])
        /// Forward these, then close connection `retire`: the rotation is complete.
        case switchOver([Frame], retire: Int)
    }

    struct Frame: Equatable {
        var frame: [UInt8]
        var time: Int64
    }

    var isRotating: Bool { candidate != nil }

    mutating func connected(_ id: Int) {
        if current == nil { current = id }
    }

    mutating func beginRotation(to id: Int) {
        candidate = id
        forwarded.removeAll()
        forwardedOrder.removeAll()
        held.removeAll()
    }

    /// The candidate failed before the switch: keep the old connection.
    mutating func abortRotation() {
        candidate = nil
        held.removeAll()
        forwarded.removeAll()
        forwardedOrder.removeAll()
    }

    /// A connection ended. When it was the current one, the candidate (if any) takes over.
    mutating func disconnected(_ id: Int) {
        if id == candidate { abortRotation() }
        if id == current {
            current = nil
            skipping.removeAll()
            if let c = candidate {
                // The old connection died mid-rotation: the held frames are the best we have.
                current = c
                candidate = nil
                held.removeAll()
            }
        }
    }

    mutating func deliver(_ id: Int, _ frame: [UInt8], time: Int64) -> Decision {
        if current == nil { current = id }
        // Steady state (one connection, nothing to skip): no hash, the frame goes straight on.
        if id == current, candidate == nil, skipping.isEmpty { return .forward([Frame(frame: frame, time: time)]) }
        let h = frame.hashValue
        if id == current {
            guard let c = candidate else {
                if skipping.contains(h) { return .forward([]) }
                skipping.removeAll()
                return .forward([Frame(frame: frame, time: time)])
            }
            // Rotating: forward the old connection's frame unless the new one is ahead of it.
            if let i = held.firstIndex(where: { $0.hash == h && $0.frame == frame }) {
                var out = [Frame(frame: frame, time: time)]
                remember(h)
                for f in held[(i + 1)...] where !forwarded.contains(f.hash) { out.append(Frame(frame: f.frame, time: f.time)) }
                let old = current!
                switchTo(c)
                return .switchOver(out, retire: old)
            }
            remember(h)
            return .forward([Frame(frame: frame, time: time)])
        }
        guard id == candidate, let old = current else { return .forward([]) }  // a retired connection draining
        if forwarded.contains(h) {
            // The new connection caught up with the old one.
            skipping = forwarded
            switchTo(id)
            return .switchOver([], retire: old)
        }
        held.append((h, frame, time))
        if held.count > limit { held.removeFirst(held.count - limit) }
        return .forward([])
    }

    private mutating func remember(_ h: Int) {
        forwarded.insert(h)
        forwardedOrder.append(h)
        if forwardedOrder.count > limit {
            forwarded.remove(forwardedOrder.removeFirst())
        }
    }

    private mutating func switchTo(_ id: Int) {
        current = id
        candidate = nil
        held.removeAll()
        forwarded.removeAll()
        forwardedOrder.removeAll()
    }
}
