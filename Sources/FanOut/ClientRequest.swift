import Foundation

/// A parsed client message (CONTRACTS.md "Websocket protocol": subscribe, unsubscribe, auth, ping).
enum ClientRequest {
    case subscribe(id: RequestID, channels: [String], since: [String: (seq: UInt64, epoch: String)])
    case unsubscribe(id: RequestID, channels: [String])
    case auth(id: RequestID, token: String)
    case ping(id: RequestID)

    /// Why a message could not be understood: the error frame's code and message.
    struct Failure: Error {
        let id: RequestID
        let code: ErrorCode
        let message: String
    }

    static func parse(_ bytes: some Collection<UInt8>) -> Result<ClientRequest, Failure> {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            return .failure(Failure(id: .none, code: .badJSON, message: "message is not valid JSON"))
        }
        guard let o = object as? [String: Any] else {
            return .failure(Failure(id: .none, code: .badJSON, message: "message must be a JSON object"))
        }
        let id: RequestID
        switch o["id"] {
        case nil, is NSNull: id = .none
        case let s as String: id = .text(String(s.prefix(64)))
        case let n as NSNumber where !Self.isBool(n) && n.doubleValue == n.doubleValue.rounded() && abs(n.doubleValue) < 9e15:
            id = .number(n.int64Value)
        default:
            return .failure(Failure(id: .none, code: .badJSON, message: "id must be an integer or a string"))
        }
        guard let op = o["op"] as? String else {
            return .failure(Failure(id: id, code: .unknownOp, message: "missing \"op\" (subscribe, unsubscribe, auth, ping)"))
        }
        switch op {
        case "subscribe", "unsubscribe":
            guard let list = o["channels"] as? [Any], !list.isEmpty else {
                return .failure(Failure(id: id, code: .badChannel, message: "\"channels\" must be a non-empty array of channel names"))
            }
            var channels: [String] = []
            for c in list {
                guard let s = c as? String else {
                    return .failure(Failure(id: id, code: .badChannel, message: "channel names must be strings"))
                }
                channels.append(s)
            }
            if op == "unsubscribe" { return .success(.unsubscribe(id: id, channels: channels)) }
            var since: [String: (seq: UInt64, epoch: String)] = [:]
            if let raw = o["since"] {
                guard let map = raw as? [String: Any] else {
                    return .failure(Failure(id: id, code: .badJSON, message: "\"since\" must map channels to {\"seq\":N,\"epoch\":\"…\"}"))
                }
                for (ch, v) in map {
                    guard let p = v as? [String: Any], let n = p["seq"] as? NSNumber, !Self.isBool(n), n.int64Value >= 0,
                        let e = p["epoch"] as? String
                    else {
                        return .failure(
                            Failure(id: id, code: .badJSON, message: "since[\"\(ch.prefix(80))\"] must be {\"seq\":N,\"epoch\":\"…\"}"))
                    }
                    since[ch] = (UInt64(n.int64Value), e)
                }
            }
            return .success(.subscribe(id: id, channels: channels, since: since))
        case "auth":
            guard let token = o["token"] as? String else {
                return .failure(Failure(id: id, code: .unauthorized, message: "\"token\" must be a string"))
            }
            return .success(.auth(id: id, token: token))
        case "ping":
            return .success(.ping(id: id))
        default:
            return .failure(Failure(id: id, code: .unknownOp, message: "unknown op '\(op.prefix(40))' (subscribe, unsubscribe, auth, ping)"))
        }
    }

    /// JSON `true`/`false` come back as NSNumber too; they are not ids or sequence numbers.
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}
