#if canImport(Glibc)
import Glibc
#endif

/// The configuration loader: the input is YAML text, optionally followed by a NUL byte and
/// environment lines (`NAME=value`). Every result is a configuration or a ConfigurationError
/// whose problems each say where and what; a loaded configuration's YAML loads back equal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let split = bytes.firstIndex(of: 0) ?? bytes.count
    guard let yaml = String(validating: bytes[..<split], as: UTF8.self) else { return 0 }
    var environment: [String: String] = [:]
    if split < bytes.count {
        let rest = String(decoding: bytes[(split + 1)...], as: UTF8.self)
        for line in rest.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            environment[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
    }
    do {
        let configuration = try GatewayConfiguration.parse(yaml: yaml, environment: environment)
        let again: GatewayConfiguration
        do {
            again = try GatewayConfiguration.parse(yaml: configuration.yaml, environment: [:])
        } catch {
            fail("a loaded configuration's YAML does not load: \(error)\n--- yaml:\n\(configuration.yaml)")
        }
        if again != configuration { fail("a loaded configuration's YAML loads as a different configuration") }
    } catch {
        if error.problems.isEmpty { fail("configuration error without problems") }
        for p in error.problems where p.location.isEmpty || p.message.isEmpty {
            fail("configuration problem without a location or message: \(p)")
        }
    }
    return 0
}

func fail(_ message: String) -> Never {
    let text = "fuzz invariant broken: \(message)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    abort()
}
