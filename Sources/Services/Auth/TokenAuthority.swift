import Foundation
import JWTKit
import Synchronization

/// The claims of a user token: `sub` is the user id, `exp` is required, `nbf` is honoured, `iat`
/// dates the token against revocations.
struct UserClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim?
    var nbf: NotBeforeClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}

/// Why a token was refused; the message is shown to the client.
public struct AuthFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a verified token proves: a user id, and until when.
public struct VerifiedToken: Sendable, Hashable {
    public var user: String
    public var expires: Date
    public var issuedAt: Date?
}

/// Issues and verifies user tokens (JWT, HS256 with the configured secret) and recognizes the
/// admin token. A token proves one user id; nothing else grants access to a user's data.
///
/// A token is refused when its signature does not verify, it is past `exp` or before `nbf`, its
/// `exp` is further than `maxLifetime` ahead or its `iat` is in the future (a token minted to
/// never expire), its subject is not a valid user id (`*`, a dot, …), or it was issued before its
/// user's tokens were revoked (``revoke(user:at:)``). Revocations are kept here; the service suite
/// stores them (`token_revocations`) and ``restore(_:)``s them at start-up (docs/protocol.md "Sessions").
public final class TokenAuthority: Sendable {
    private let keys: JWTKeyCollection
    private let adminToken: [UInt8]?
    /// The furthest `exp` accepted, from now.
    public let maxLifetime: Duration
    /// User → tokens issued before this instant are refused.
    private let revocations = Mutex<[String: Date]>([:])
    /// Clock skew allowed on `iat`.
    static let leeway: TimeInterval = 60

    /// - Parameters:
    ///   - secret: the HS256 key; at least 32 bytes (a shorter key is easy to brute-force).
    ///   - adminToken: the bearer token of the user-management endpoints; nil disables them.
    ///   - maxLifetime: tokens whose `exp` is further ahead than this are refused.
    public init(secret: String, adminToken: String?, maxLifetime: Duration = .seconds(30 * 86_400)) async throws(AuthFailure) {
        guard secret.utf8.count >= 32 else { throw AuthFailure("the JWT secret must be at least 32 bytes") }
        if let adminToken, adminToken.utf8.count < 16 { throw AuthFailure("the admin token must be at least 16 bytes") }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.adminToken = adminToken.map { Array($0.utf8) }
        self.maxLifetime = maxLifetime
    }

    /// A token for `user`, valid for `lifetime` (negative lifetimes make expired tokens, for tests).
    public func issue(user: String, lifetime: Duration = .seconds(24 * 3600)) async throws -> String {
        let now = Date()
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18
        return try await keys.sign(
            UserClaims(sub: SubjectClaim(value: user), exp: ExpirationClaim(value: now.addingTimeInterval(seconds)), iat: IssuedAtClaim(value: now)))
    }

    /// The user id a token was issued to, or why it is refused.
    public func verify(_ token: String) async -> Result<String, AuthFailure> {
        await verifyToken(token).map(\.user)
    }

    /// The user id and expiry a token proves, or why it is refused.
    public func verifyToken(_ token: String) async -> Result<VerifiedToken, AuthFailure> {
        guard !token.isEmpty else { return .failure(AuthFailure("missing token")) }
        let claims: UserClaims
        do {
            claims = try await keys.verify(token, as: UserClaims.self)
        } catch let e as JWTError {
            switch e.errorType {
            case .claimVerificationFailure:
                if e.failedClaim is ExpirationClaim { return .failure(AuthFailure("token expired")) }
                if e.failedClaim is NotBeforeClaim { return .failure(AuthFailure("token not valid yet (nbf)")) }
                return .failure(AuthFailure("token claims rejected"))
            case .signatureVerificationFailed: return .failure(AuthFailure("token signature does not verify"))
            case .malformedToken:
                // A payload that is JSON but lacks a claim (or has one of the wrong type) fails to decode.
                if e.reason?.hasPrefix("Couldn't decode JWT payload") == true {
                    return .failure(AuthFailure("token lacks the required claims (sub, exp)"))
                }
                return .failure(AuthFailure("malformed token"))
            default: return .failure(AuthFailure("token rejected"))
            }
        } catch {
            // Decoding errors: a claim missing (no exp, no sub) or of the wrong type.
            return .failure(AuthFailure("token lacks the required claims (sub, exp)"))
        }
        let user = claims.sub.value
        guard Self.isValidUserID(user) else {
            return .failure(AuthFailure("token subject is not a user id (1–64 of A–Z, a–z, 0–9, _ and -)"))
        }
        let now = Date()
        let limit = Double(maxLifetime.components.seconds)
        guard claims.exp.value.timeIntervalSince(now) <= limit else {
            return .failure(AuthFailure("token expiry is more than \(Int(limit / 86_400)) days ahead"))
        }
        if let iat = claims.iat?.value, iat.timeIntervalSince(now) > Self.leeway {
            return .failure(AuthFailure("token issued in the future (iat)"))
        }
        if let revoked = revocations.withLock({ $0[user] }) {
            guard let iat = claims.iat?.value, iat >= revoked else {
                return .failure(AuthFailure("token revoked (issued before the user's tokens were revoked)"))
            }
        }
        return .success(VerifiedToken(user: user, expires: claims.exp.value, issuedAt: claims.iat?.value))
    }

    /// Refuses every token of `user` issued before `at` (default now). Returns that instant.
    @discardableResult
    public func revoke(user: String, at: Date = Date()) -> Date {
        revocations.withLock { r in
            // A revocation never moves back: the later instant wins.
            let t = max(at, r[user] ?? .distantPast)
            r[user] = t
            return t
        }
    }

    /// A revocation learnt from another node: refuses `user`'s tokens issued before `at` and
    /// returns true when that moves the user's instant forward (their sessions are then to be
    /// signed out); false when this node already had that instant or a later one.
    public func revokeIfLater(user: String, at: Date) -> Bool {
        revocations.withLock { r in
            if let known = r[user], known >= at { return false }
            r[user] = at
            return true
        }
    }

    /// The instant before which `user`'s tokens are refused, if any.
    public func revokedBefore(_ user: String) -> Date? { revocations.withLock { $0[user] } }

    /// The stored revocations, at start-up (merged: a later instant wins).
    public func restore(_ stored: [String: Date]) {
        for (user, before) in stored { revoke(user: user, at: before) }
    }

    /// The rule user ids follow (they name channels: `executions.<user>`): 1–64 characters of
    /// A–Z, a–z, 0–9, `_` and `-`. No `*`, no `.`.
    public static func isValidUserID(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D }
    }

    /// Whether `token` is the admin token (constant-time comparison).
    public func isAdmin(_ token: String) -> Bool {
        guard let adminToken else { return false }
        let given = Array(token.utf8)
        guard given.count == adminToken.count else { return false }
        return zip(given, adminToken).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
