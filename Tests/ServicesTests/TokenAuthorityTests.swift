import Foundation
import JWTKit
import Services
import Testing

/// Issue 16, defect 8: what a validly signed token may still not claim. Tokens here are signed by
/// the test's own JWTKit key collection with hand-written claims (not by `TokenAuthority.issue`),
/// so each claim is exactly what an attacker holding a signed token could send. Each case was
/// accepted by the code before the fix unless noted.
@Suite("Token authority")
struct TokenAuthorityTests {
    static let secret = String(repeating: "s", count: 40)

    /// Any claims, as JSON numbers and strings.
    struct Claims: JWTPayload {
        var fields: [String: Value]
        /// `fromNow`: a time that many seconds from when the token is signed (test arguments
        /// are made when the tests are listed, possibly minutes before they run).
        enum Value: Codable {
            case number(Double), text(String), fromNow(Double)
            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                switch self {
                case .number(let n): try c.encode(n)
                case .text(let s): try c.encode(s)
                case .fromNow(let d): try c.encode(Date().timeIntervalSince1970 + d)
                }
            }
            init(from decoder: any Decoder) throws { self = .text(try decoder.singleValueContainer().decode(String.self)) }
        }
        func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }
        init(_ fields: [String: Value]) { self.fields = fields }
        init(from decoder: any Decoder) throws { fields = try [String: Value](from: decoder) }
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func sign(_ fields: [String: Claims.Value]) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(Claims(fields))
    }

    func authority() async throws -> TokenAuthority { try await TokenAuthority(secret: Self.secret, adminToken: nil) }

    @Test func aPlainTokenIsAccepted() async throws {
        let a = try await authority()
        let t = try await Self.sign(["sub": .text("alice"), "exp": .fromNow(600), "iat": .fromNow(0)])
        let v = try await a.verifyToken(t).get()
        #expect(v.user == "alice")
        #expect(abs(v.expires.timeIntervalSince1970 - (Date().timeIntervalSince1970 + 600)) < 5)
    }

    @Test(arguments: [
        ("exp 1e300", ["sub": Claims.Value.text("alice"), "exp": .number(1e300)], "token expiry is more than 30 days ahead"),
        ("exp in a year", ["sub": .text("alice"), "exp": .fromNow(365 * 86_400)], "token expiry is more than 30 days ahead"),
        ("nbf ahead", ["sub": .text("alice"), "exp": .fromNow(600), "nbf": .fromNow(300)], "token not valid yet (nbf)"),
        ("iat ahead", ["sub": .text("alice"), "exp": .fromNow(600), "iat": .fromNow(3600)], "token issued in the future (iat)"),
        ("sub *", ["sub": .text("*"), "exp": .fromNow(600)], "token subject is not a user id (1–64 of A–Z, a–z, 0–9, _ and -)"),
        ("sub with a dot", ["sub": .text("alice.x"), "exp": .fromNow(600)], "token subject is not a user id (1–64 of A–Z, a–z, 0–9, _ and -)"),
        ("sub empty", ["sub": .text(""), "exp": .fromNow(600)], "token subject is not a user id (1–64 of A–Z, a–z, 0–9, _ and -)"),
        ("sub too long", ["sub": .text(String(repeating: "a", count: 65)), "exp": .fromNow(600)], "token subject is not a user id (1–64 of A–Z, a–z, 0–9, _ and -)"),
        ("sub with a space", ["sub": .text("al ice"), "exp": .fromNow(600)], "token subject is not a user id (1–64 of A–Z, a–z, 0–9, _ and -)"),
        // Refused before the fix too (kept as a guard).
        ("expired", ["sub": .text("alice"), "exp": .fromNow(-10)], "token expired"),
        ("no exp", ["sub": .text("alice")], "token lacks the required claims (sub, exp)"),
    ] as [(String, [String: Claims.Value], String)])
    func refused(_ what: String, _ claims: [String: Claims.Value], _ message: String) async throws {
        let a = try await authority()
        let token = try await Self.sign(claims)
        #expect(await a.verifyToken(token).failure == message, "\(what)")
        #expect(await a.verify(token).failure == message, "\(what)")
    }

    @Test func nbfInThePastIsAccepted() async throws {
        let a = try await authority()
        let t = try await Self.sign(["sub": .text("alice"), "exp": .fromNow(600), "nbf": .fromNow(-5)])
        #expect(try await a.verify(t).get() == "alice")
    }

    @Test func aRevocationRefusesTokensIssuedBeforeItAndOnlyThose() async throws {
        let a = try await authority()
        let before = try await a.issue(user: "alice")
        let bob = try await a.issue(user: "bob")
        let noIAT = try await Self.sign(["sub": .text("alice"), "exp": .fromNow(600)])
        #expect(try await a.verify(before).get() == "alice")
        let at = a.revoke(user: "alice")
        #expect(await a.verify(before).failure == "token revoked (issued before the user's tokens were revoked)")
        // Without iat a token cannot show it is newer than the revocation.
        #expect(await a.verify(noIAT).failure == "token revoked (issued before the user's tokens were revoked)")
        #expect(try await a.verify(bob).get() == "bob")
        let after = try await a.issue(user: "alice")
        #expect(try await a.verify(after).get() == "alice")
        // An earlier instant does not undo a later revocation.
        #expect(a.revoke(user: "alice", at: at.addingTimeInterval(-60)) == at)
        #expect(await a.verify(before).failure != nil)
    }

    /// A revocation from another node: applied (and reported as new) only when later than the one known.
    @Test func aRevocationFromAnotherNodeOnlyMovesForward() async throws {
        let a = try await authority()
        let old = try await a.issue(user: "alice")
        let t = Date()
        #expect(a.revokedBefore("alice") == nil)
        #expect(a.revokeIfLater(user: "alice", at: t))
        #expect(a.revokedBefore("alice") == t)
        #expect(await a.verify(old).failure?.hasPrefix("token revoked") == true)
        // The same instant again (the bucket's echo) and an older one: not new, nothing changes.
        #expect(!a.revokeIfLater(user: "alice", at: t))
        #expect(!a.revokeIfLater(user: "alice", at: t.addingTimeInterval(-5)))
        #expect(a.revokedBefore("alice") == t)
        #expect(a.revokeIfLater(user: "alice", at: t.addingTimeInterval(1)))
        #expect(a.revokedBefore("alice") == t.addingTimeInterval(1))
        #expect(a.revokedBefore("bob") == nil)
    }

    @Test func userIDRule() {
        for ok in ["a", "alice", "A-b_9", String(repeating: "x", count: 64)] { #expect(TokenAuthority.isValidUserID(ok), "\(ok)") }
        for bad in ["", "*", "a.b", "a b", "ü", String(repeating: "x", count: 65), "a/b", "a\u{0}"] {
            #expect(!TokenAuthority.isValidUserID(bad), "\(bad)")
        }
    }
}

extension Result {
    var failure: String? {
        if case .failure(let e) = self { return "\(e)" }
        return nil
    }
}
