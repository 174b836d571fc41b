import Foundation
public import MarketCore

extension UnixNanos {
    /// The wall clock (microsecond resolution is all the services print).
    public static func now() -> UnixNanos {
        UnixNanos(Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) * 1_000)
    }
}
