import Foundation
import JWTKit

/// The claims of a user token: `sub` is the user id, `exp` is required.
struct UserClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Why a token was refused; the message is shown to the client.
public struct AuthFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Issues and verifies user tokens (JWT, HS256 with the configured secret) and recognizes the
/// admin token. A token proves one user id; nothing else grants access to a user's data.
public final class TokenAuthority: Sendable {
    private let keys: JWTKeyCollection
    private let adminToken: [UInt8]?

    /// - Parameters:
    ///   - secret: the HS256 key; at least 32 bytes (a shorter key is easy to brute-force).
    ///   - adminToken: the bearer token of the user-management endpoints; nil disables them.
    public init(secret: String, adminToken: String?) async throws(AuthFailure) {
        guard secret.utf8.count >= 32 else { throw AuthFailure("the JWT secret must be at least 32 bytes") }
        if let adminToken, adminToken.utf8.count < 16 { throw AuthFailure("the admin token must be at least 16 bytes") }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.adminToken = adminToken.map { Array($0.utf8) }
    }

    /// A token for `user`, valid for `lifetime` (negative lifetimes make expired tokens, for tests).
    public func issue(user: String, lifetime: Duration = .seconds(24 * 3600)) async throws -> String {
        let now = Date()
        let seconds = Double(lifetime.components.seconds)
        return try await keys.sign(
            UserClaims(sub: SubjectClaim(value: user), exp: ExpirationClaim(value: now.addingTimeInterval(seconds)), iat: IssuedAtClaim(value: now)))
    }

    /// The user id a token was issued to, or why it is refused.
    public func verify(_ token: String) async -> Result<String, AuthFailure> {
        guard !token.isEmpty else { return .failure(AuthFailure("missing token")) }
        do {
            let claims = try await keys.verify(token, as: UserClaims.self)
            guard !claims.sub.value.isEmpty else { return .failure(AuthFailure("token has no subject")) }
            return .success(claims.sub.value)
        } catch let e as JWTError {
            switch e.errorType {
            case .claimVerificationFailure:
                return .failure(AuthFailure(e.failedClaim is ExpirationClaim ? "token expired" : "token claims rejected"))
            case .signatureVerificationFailed: return .failure(AuthFailure("token signature does not verify"))
            case .malformedToken: return .failure(AuthFailure("malformed token"))
            default: return .failure(AuthFailure("token rejected"))
            }
        } catch {
            // Decoding errors: a claim missing (no exp, no sub) or of the wrong type.
            return .failure(AuthFailure("token lacks the required claims (sub, exp)"))
        }
    }

    /// Whether `token` is the admin token (constant-time comparison).
    public func isAdmin(_ token: String) -> Bool {
        guard let adminToken else { return false }
        let given = Array(token.utf8)
        guard given.count == adminToken.count else { return false }
        return zip(given, adminToken).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
