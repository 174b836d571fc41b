#if canImport(Glibc)
import Glibc
#endif

/// The fan-out server's client message decoder: any bytes give a request or an error frame with
/// a code and a message; nothing traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    switch ClientRequest.parse(bytes) {
    case .success(.subscribe(_, let channels, _)), .success(.unsubscribe(_, let channels)):
        if channels.isEmpty { fail("(un)subscribe with no channels") }
    case .success(.auth), .success(.ping):
        break
    case .failure(let failure):
        if failure.message.isEmpty { fail("error without a message") }
    }
    return 0
}

func fail(_ message: String) -> Never {
    let text = "fuzz invariant broken: \(message)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    abort()
}
