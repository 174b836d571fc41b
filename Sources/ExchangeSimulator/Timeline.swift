import Feeds
import MarketCore

/// One step of a venue's timeline: an original websocket frame, or a recorded REST depth answer
/// that the model takes in when the timeline passes it.
struct TimelineEntry: Sendable {
    enum Kind: Sendable {
        case ws(String)
        case rest(url: String, body: String)
    }

    var receiveTime: Int64
    var kind: Kind
}

/// A venue's recorded frames, merged from its capture files.
struct Timeline: Sendable {
    var entries: [TimelineEntry] = []

    /// The `ws` and `rest` lines of `venue` in `paths`, merged by `recv_ns` (ties keep file order,
    /// then line order, as replay does). Other venues' lines and other kinds are skipped.
    static func load(venue: Venue, paths: [String]) throws(CaptureError) -> Timeline {
        var keyed: [(time: Int64, file: Int, line: Int, entry: TimelineEntry)] = []
        for (f, path) in paths.enumerated() {
            let reader = try CaptureReader(path: path)
            while let r = try reader.next() {
                guard r.venue == venue else { continue }
                let text = String(decoding: r.frame, as: UTF8.self)
                let t = r.receiveTime.rawValue
                switch r.kind {
                case .ws: keyed.append((t, f, r.line, TimelineEntry(receiveTime: t, kind: .ws(text))))
                case .rest: keyed.append((t, f, r.line, TimelineEntry(receiveTime: t, kind: .rest(url: r.url ?? "", body: text))))
                default: continue
                }
            }
        }
        keyed.sort { ($0.time, $0.file, $0.line) < ($1.time, $1.file, $1.line) }
        return Timeline(entries: keyed.map(\.entry))
    }

    /// The recorded REST lines, for models that answer them before the timeline reaches them.
    var restLines: [(url: String, body: String)] {
        entries.compactMap { if case .rest(let u, let b) = $0.kind { (u, b) } else { nil } }
    }

    /// The websocket frames in timeline order (what a client subscribed from the start receives).
    var wsFrames: [String] {
        entries.compactMap { if case .ws(let t) = $0.kind { t } else { nil } }
    }
}
