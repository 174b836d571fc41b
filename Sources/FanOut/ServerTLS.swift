import Foundation
public import NIOSSL
import Synchronization

/// The listener's certificate and key, loaded from PEM files and reloadable: new connections use
/// the context loaded last; connections already open keep the one they started with.
///
/// ``reloadIfChanged()`` reloads when either file's modification time or size changed (the
/// gateway calls it periodically: docs/protocol.md "TLS"). A reload that fails (unreadable file,
/// a key that does not match the certificate) keeps the previous context and throws.
public final class ServerTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let state: Mutex<State>

    struct State {
        var context: NIOSSLContext
        var stamp: [FileStamp]
        var reloads = 0
    }

    struct FileStamp: Equatable {
        var modified: Date?
        var size: Int?
    }

    /// Loads the certificate chain and key; throws when either is unreadable or they do not match.
    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        let stamp = Self.stamp([certificatePath, keyPath])
        let context = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        state = Mutex(State(context: context, stamp: stamp))
    }

    /// The context new connections use.
    public var context: NIOSSLContext { state.withLock { $0.context } }

    /// Successful reloads so far.
    public var reloads: Int { state.withLock { $0.reloads } }

    /// Reloads both files now.
    public func reload() throws {
        let stamp = Self.stamp([certificatePath, keyPath])
        let context = try Self.load(certificatePath: certificatePath, keyPath: keyPath)
        state.withLock {
            $0.context = context
            $0.stamp = stamp
            $0.reloads += 1
        }
    }

    /// Reloads when a file changed since the last load; returns whether it did.
    @discardableResult
    public func reloadIfChanged() throws -> Bool {
        let stamp = Self.stamp([certificatePath, keyPath])
        guard stamp != state.withLock({ $0.stamp }) else { return false }
        do {
            try reload()
        } catch {
            // Remember the failed stamp: the error is reported once, not on every check, and the
            // next change of either file tries again.
            state.withLock { $0.stamp = stamp }
            throw error
        }
        return true
    }

    static func load(certificatePath: String, keyPath: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard !chain.isEmpty else { throw TLSFileError(message: "\(certificatePath) holds no PEM certificate") }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // BoringSSL refuses a key that does not belong to the leaf certificate here.
        return try NIOSSLContext(configuration: configuration)
    }

    static func stamp(_ paths: [String]) -> [FileStamp] {
        paths.map { p in
            let a = try? FileManager.default.attributesOfItem(atPath: p)
            return FileStamp(modified: a?[.modificationDate] as? Date, size: (a?[.size] as? NSNumber)?.intValue)
        }
    }
}

public struct TLSFileError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
