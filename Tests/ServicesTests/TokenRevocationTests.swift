import Foundation
import MarketCore
import Services
import Storage
import Testing

/// A revocation outlives a restart: it is stored in `token_revocations` and restored by
/// `ServiceSuite.load()`, on SQLite and PostgreSQL.
@Suite struct TokenRevocationTests {
    static let secret = String(repeating: "r", count: 40) + "-revocation-test"

    static func refusedAsRevoked(_ a: TokenAuthority, _ token: String) async -> Bool {
        if case .failure(let f) = await a.verify(token) { return f.message.hasPrefix("token revoked") }
        return false
    }

    static func accepted(_ a: TokenAuthority, _ token: String, as user: String) async -> Bool {
        if case .success(let u) = await a.verify(token) { return u == user }
        return false
    }

    @Test(.timeLimit(.minutes(2)), arguments: Backend.available)
    func aRevokedTokenStaysRevokedAfterARestart(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let auth1 = try await TokenAuthority(secret: Self.secret, adminToken: nil)
            let a = Harness(store: store1, authority: auth1)
            try await a.suite.load()
            let old = try await auth1.issue(user: "ann")
            let bobs = try await auth1.issue(user: "bob")
            #expect(await Self.accepted(auth1, old, as: "ann"))
            let revoked = try #require(await a.suite.revokeTokens(of: "ann"))
            #expect(revoked.stored)
            let fresh = try await auth1.issue(user: "ann")
            #expect(await Self.refusedAsRevoked(auth1, old))
            #expect(await Self.accepted(auth1, fresh, as: "ann"))
            await store1.close()

            // A new process: same secret, a new authority that knows nothing until load().
            let store2 = try await open()
            let auth2 = try await TokenAuthority(secret: Self.secret, adminToken: nil)
            #expect(await Self.accepted(auth2, old, as: "ann"))  // what a restart did before 0021
            let b = Harness(store: store2, authority: auth2)
            try await b.suite.load()
            #expect(await Self.refusedAsRevoked(auth2, old))
            #expect(await Self.accepted(auth2, fresh, as: "ann"))
            #expect(await Self.accepted(auth2, bobs, as: "bob"))

            // The stored instant is the revocation's (to the nanosecond Date can carry), and an
            // earlier one written later does not move it back.
            let revocations = try #require(store2 as? any TokenRevocationStore)
            let stored = try #require(try await revocations.revocations()["ann"])
            let expected = Int64((revoked.before.timeIntervalSince1970 * 1e9).rounded(.down))
            #expect(stored.rawValue == expected)
            try await revocations.saveRevocation(user: "ann", before: UnixNanos(expected - 60_000_000_000))
            try await revocations.saveRevocation(user: "cy", before: UnixNanos(expected))
            let after = try await revocations.revocations()
            #expect(after == ["ann": UnixNanos(expected), "cy": UnixNanos(expected)])
            await store2.close()
        }
    }
}
