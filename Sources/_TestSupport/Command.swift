import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion with posix_spawn and waitpid. (Foundation's `Process.waitUntilExit`
/// was seen to hang here when the child starts a daemon, e.g. `pg_ctl start`.)
public enum Command {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Runs `arguments[0]` (a path) with the rest as arguments; stdout and stderr are captured
    /// through temporary files, so a daemon that inherits them cannot keep a pipe open.
    public static func run(_ arguments: [String], stdinPath: String = "/dev/null") throws -> Result {
        let dir = NSTemporaryDirectory()
        let outPath = "\(dir)/mg-cmd-\(UUID().uuidString).out"
        let errPath = "\(dir)/mg-cmd-\(UUID().uuidString).err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        let pid = try spawn(arguments, stdinPath: stdinPath, stdoutPath: outPath, stderrPath: errPath)
        let status = wait(pid)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Result(status: status, stdout: out, stderr: err)
    }

    /// Starts a program and returns its pid (stdio from/to the given paths).
    public static func spawn(_ arguments: [String], stdinPath: String, stdoutPath: String, stderrPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard rc == 0 else { throw CommandError("posix_spawn \(arguments[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits for a child; returns its exit status, or 128 + signal when a signal ended it.
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

public struct CommandError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
