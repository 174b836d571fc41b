import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Catches SIGINT and SIGTERM so a command can shut down gracefully: the first signal is recorded
/// in ``received``; a second one ends the process at once with the default action.
final class ShutdownSignals: Sendable {
    private final class First: Sendable {
        let value = Mutex<Int32?>(nil)

        func record(_ s: Int32) {
            let isFirst = value.withLock { current -> Bool in
                guard current == nil else { return false }
                current = s
                return true
            }
            if !isFirst {
                signal(s, SIG_DFL)
                raise(s)
            }
        }
    }

    private let first = First()
    private let sources: Mutex<[any DispatchSourceSignal]>

    init(_ signals: [Int32] = [SIGINT, SIGTERM]) {
        let first = self.first
        var list: [any DispatchSourceSignal] = []
        for s in signals {
            signal(s, SIG_IGN)  // delivered through the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { first.record(s) }
            source.resume()
            list.append(source)
        }
        sources = Mutex(list)
    }

    deinit {
        sources.withLock { for s in $0 { s.cancel() } }
    }

    /// The first signal received, if any.
    var received: Int32? { first.value.withLock { $0 } }
}
