public import Bus
public import NATS
public import NIOCore

/// How a bus frame travels between nodes (docs/nats.md "Cluster envelope").
///
/// Subject: `md.<channel>` (`md.trades.binance.BTC-USDT`, `md.candles.1m.okx.BTC-USDT-SWAP`);
/// private channels `user.<id>.executions`, `user.<id>.mood`.
/// Payload: the frame's JSON exactly as the publisher's bus encoded it,
/// `{"ch":…,"seq":…,"epoch":…,"type":…,"data":…}`: an edge puts a websocket header in front and
/// sends it. Headers repeat what an edge needs without parsing the JSON: `MG-Seq`, `MG-Epoch`,
/// `MG-Type`, `MG-Conflate` (only on frames a slow client may skip: the conflation bucket) and
/// `MG-Snapshot: 1` (only when the event becomes the channel's subscribe-first state).
public enum ClusterEnvelope {
    public static let marketPrefix = "md."
    public static let marketWildcard = "md.>"
    public static let userPrefix = "user."
    public static let userWildcard = "user.>"
    public static let seqHeader = "MG-Seq"
    public static let epochHeader = "MG-Epoch"
    public static let typeHeader = "MG-Type"
    public static let conflateHeader = "MG-Conflate"
    public static let snapshotHeader = "MG-Snapshot"

    /// Channel kinds the `ingest` role publishes; `services` adds ``servicesKinds``.
    public static let ingestKinds: Set<ChannelKind> = [.trades, .book, .candles, .ticker, .status]
    /// What the `services` role publishes: signals (public) and each user's executions and mood.
    public static let servicesKinds: Set<ChannelKind> = [.signals, .executions, .mood]

    public static func subject(for channel: ChannelName) -> String {
        channel.kind.isPrivate ? "\(userPrefix)\(channel.scope).\(channel.kind.rawValue)" : marketPrefix + channel.description
    }

    /// The channel a subject carries, or nil when it is not one of ours (or names a wildcard).
    public static func channel(ofSubject subject: String) -> ChannelName? {
        if subject.hasPrefix(marketPrefix) {
            guard let c = try? ChannelName(parsing: String(subject.dropFirst(marketPrefix.count))), !c.hasWildcard, !c.kind.isPrivate
            else { return nil }
            return c
        }
        guard subject.hasPrefix(userPrefix) else { return nil }
        let parts = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let kind = ChannelKind(rawValue: String(parts[2])), kind.isPrivate,
            let c = try? ChannelName(parsing: "\(kind.rawValue).\(parts[1])"), !c.hasWildcard
        else { return nil }
        return c
    }

    public static func headers(for frame: BusFrame) -> NATSHeaders {
        var h = NATSHeaders()
        h.append(name: seqHeader, value: String(frame.seq))
        h.append(name: epochHeader, value: frame.epoch)
        h.append(name: typeHeader, value: frame.type)
        if let key = frame.conflationKey { h.append(name: conflateHeader, value: String(key.bucket)) }
        if frame.setsSnapshot { h.append(name: snapshotHeader, value: "1") }
        return h
    }

    /// One received frame, checked.
    public struct Decoded: Sendable {
        public let channel: ChannelName
        public let seq: UInt64
        public let epoch: String
        public let type: String
        public let conflationBucket: Int64?
        /// The `data` JSON, for frames that become the subscribe-first state.
        public let snapshotData: [UInt8]?
        public let json: ByteBuffer
    }

    public struct DecodeError: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// Reads a message of `md.>` or `user.>`. `channel` is the parsed name of the subject (callers cache it).
    public static func decode(_ message: NATSMessage, channel: ChannelName) throws(DecodeError) -> Decoded {
        guard let h = message.headers else { throw DecodeError("\(message.subject): no headers") }
        guard let seqText = h[seqHeader], let seq = UInt64(seqText), seq > 0 else {
            throw DecodeError("\(message.subject): missing or bad \(seqHeader)")
        }
        guard let epoch = h[epochHeader], !epoch.isEmpty else { throw DecodeError("\(message.subject): missing \(epochHeader)") }
        guard let type = h[typeHeader], !type.isEmpty else { throw DecodeError("\(message.subject): missing \(typeHeader)") }
        var bucket: Int64?
        if let text = h[conflateHeader] {
            guard let b = Int64(text) else { throw DecodeError("\(message.subject): bad \(conflateHeader) '\(text)'") }
            bucket = b
        }
        let json = message.payload
        guard json.readableBytes >= 2, json.getInteger(at: json.readerIndex, as: UInt8.self) == UInt8(ascii: "{"),
            json.getInteger(at: json.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "}")
        else { throw DecodeError("\(message.subject): payload is not a JSON object") }
        var snapshot: [UInt8]?
        if h[snapshotHeader] == "1" {
            guard let data = dataField(of: json) else { throw DecodeError("\(message.subject): snapshot frame without \"data\"") }
            snapshot = data
        }
        return Decoded(channel: channel, seq: seq, epoch: epoch, type: type, conflationBucket: bucket, snapshotData: snapshot, json: json)
    }

    /// The `data` value of a frame JSON: after the first `,"data":` (the bus writes it last; the
    /// fields before it, channel, epoch and type, cannot contain that text) up to the closing brace.
    static func dataField(of json: ByteBuffer) -> [UInt8]? {
        let marker = Array(#","data":"#.utf8)
        let bytes = json.readableBytesView
        guard bytes.count > marker.count + 1 else { return nil }
        var i = bytes.startIndex
        let end = bytes.endIndex - marker.count
        while i < end {
            if bytes[i] == marker[0], bytes[i..<(i + marker.count)].elementsEqual(marker) {
                let start = i + marker.count
                guard start < bytes.endIndex - 1 else { return nil }
                return Array(bytes[start..<(bytes.endIndex - 1)])
            }
            i += 1
        }
        return nil
    }
}

// Here, not in ClusterRole.swift: that file is also compiled by the fuzz package, which has no Bus module.
extension ClusterRole {
    /// The channel kinds a node with `roles` publishes on NATS: market kinds from `ingest`, private
    /// events and signals from `services` (so each is published by exactly one node).
    public static func publishedKinds(_ roles: Set<ClusterRole>) -> Set<ChannelKind> {
        var kinds: Set<ChannelKind> = []
        if roles.contains(.ingest) { kinds.formUnion(ClusterEnvelope.ingestKinds) }
        if roles.contains(.services) { kinds.formUnion(ClusterEnvelope.servicesKinds) }
        return kinds
    }
}
