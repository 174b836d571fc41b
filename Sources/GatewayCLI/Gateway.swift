import ArgumentParser
import Feeds
import GatewayApp

@main
struct Gateway: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "MarketGateway: real-time market-data gateway.",
        subcommands: [Replay.self]
    )
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay capture files deterministically and print normalized events as JSON lines.",
        discussion: "Output shapes are specified in CONTRACTS.md. Several files are merged by recv_ns."
    )

    @Argument(help: "Capture files (.jsonl or .jsonl.gz).")
    var files: [String]

    @Option(help: "Event types to print: trades,candles,books,status (also tickers, candle-updates).")
    var emit: String?

    @Option(help: "Candle intervals, e.g. 1m,5m.")
    var intervals: String?

    @Option(help: "Book snapshot depth (levels per side).")
    var depth: Int?

    @Option(name: .customLong("snapshot-every"), help: "Book snapshot interval in book event time, e.g. 1s.")
    var snapshotEvery: String?

    @Option(help: "How long after a bucket's end the replay clock closes it, e.g. 2s.")
    var grace: String?

    @Flag(help: "Write a JSON summary line to stderr at the end.")
    var stats = false

    func run() throws {
        var run = ReplayRun(paths: files)
        run.printStats = stats
        do {
            try run.configure(emit: emit, intervals: intervals, depth: depth, snapshotEvery: snapshotEvery, grace: grace)
        } catch {
            throw ValidationError(error.description)
        }
        let status = run.run()
        if status != 0 { throw ExitCode(status) }
    }
}
