/// Why a configuration could not be loaded: every problem found, each naming where it is.
///
/// `description` has one problem per line, `where: what`, in the order they were found — the
/// file's key path (`server.port`, `normalizer.intervals[1]`), the environment variable
/// (`GATEWAY_SERVER_PORT`, `DATABASE_URL`) or, for an unreadable file or broken YAML, the file
/// and line:
///
/// ```
/// server.port: 70000 is out of range 0...65535
/// venues.binanse: unknown venue (known: binance, binance-usdm, binance-coinm, coinbase, kraken, okx, bybit)
/// GATEWAY_SERVER_PROT: unknown configuration variable (did you mean GATEWAY_SERVER_PORT?)
/// ```
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// One thing wrong with the configuration.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// Where: a key path, an environment variable, or `FILE:LINE:COLUMN`.
        public var location: String
        /// What is wrong, e.g. `70000 is out of range 0...65535`.
        public var message: String

        public init(location: String, message: String) {
            self.location = location
            self.message = message
        }

        public var description: String { "\(location): \(message)" }
    }

    /// The problems, in the order they were found (never empty).
    public var problems: [Problem]

    public init(problems: [Problem]) {
        self.problems = problems
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
