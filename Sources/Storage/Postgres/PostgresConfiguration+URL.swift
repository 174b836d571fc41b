extension PostgresConfiguration {
    /// The query parameters ``init(url:)`` understands.
    public static let supportedURLParameters = ["sslmode", "application_name", "connect_timeout"]

    /// Parses a libpq-style connection URL.
    ///
    /// Accepted: `postgres://` or `postgresql://`, then `user[:password]@host[:port][/database]`,
    /// then optional query parameters `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`), `application_name` and `connect_timeout` (whole seconds). User, password,
    /// host and database may be percent-encoded (a password with `@` or `/` must be); an IPv6
    /// address goes in brackets (`[::1]`). The port defaults to 5432, the database to the server's
    /// default. Surrounding whitespace (a trailing newline from a file or variable) is ignored.
    ///
    /// Everything else is rejected with a ``PostgresURLError`` that names the offending part;
    /// in particular an unknown query parameter is an error, never silently dropped.
    ///
    /// - Parameter url: The URL text, e.g. `postgres://postgres@127.0.0.1:5432/gateway_test`.
    /// - Throws: ``PostgresURLError``; its text never contains the password.
    public init(url: String) throws(PostgresURLError) {
        let text = Self.trimmingWhitespace(url)
        func failure(_ code: PostgresURLError.Code, _ detail: String) -> PostgresURLError {
            PostgresURLError(code, detail, rawURL: text)
        }

        // scheme://
        guard let schemeSeparator = text.firstRange(of: "://") else {
            throw failure(.missingScheme, "no scheme; it must start with postgres:// or postgresql://")
        }
        let scheme = text[..<schemeSeparator.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw failure(.unknownScheme, "scheme \"\(scheme)\" is not postgres or postgresql")
        }
        var rest = text[schemeSeparator.upperBound...]

        // ?query
        var query: Substring = ""
        if let questionMark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: questionMark)...]
            rest = rest[..<questionMark]
        }

        // authority / path
        let authority: Substring
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        } else {
            authority = rest
        }

        // user[:password]@ — the last `@`, so an unencoded `@` in a password still parses.
        var hostAndPort = authority
        var rawUser: Substring = ""
        var rawPassword: Substring?
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostAndPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                rawUser = userInfo[..<colon]
                rawPassword = userInfo[userInfo.index(after: colon)...]
            } else {
                rawUser = userInfo
            }
        }

        // host[:port] or [ipv6][:port]
        var rawHost: Substring
        var rawPort: Substring?
        if hostAndPort.first == "[" {
            guard let close = hostAndPort.firstIndex(of: "]") else {
                throw failure(.invalidHost, "IPv6 host \"\(hostAndPort)\" has no closing \"]\"")
            }
            rawHost = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            let afterBracket = hostAndPort[hostAndPort.index(after: close)...]
            if afterBracket.first == ":" {
                rawPort = afterBracket.dropFirst()
            } else if !afterBracket.isEmpty {
                throw failure(.invalidHost, "unexpected \"\(afterBracket)\" after the IPv6 host; expected :port")
            }
        } else if let colon = hostAndPort.firstIndex(of: ":") {
            rawHost = hostAndPort[..<colon]
            rawPort = hostAndPort[hostAndPort.index(after: colon)...]
            if rawPort?.contains(":") == true {
                throw failure(
                    .invalidHost, "host \"\(hostAndPort)\" has several colons; write an IPv6 address in brackets, [::1]")
            }
        } else {
            rawHost = hostAndPort
        }

        guard let host = Self.percentDecoded(rawHost) else {
            throw failure(.invalidPercentEncoding, "the host has a bad %-escape")
        }
        guard !host.isEmpty else {
            throw failure(.missingHost, "no host; expected user@HOST:port, e.g. postgres@127.0.0.1:5432")
        }
        if host.contains(",") {
            throw failure(.invalidHost, "several hosts (\"\(host)\") are not supported; name one")
        }
        if host.hasPrefix("/") {
            throw failure(.invalidHost, "unix-socket directory \"\(host)\" is not supported; use a TCP host")
        }

        var port = Self.defaultPort
        if let rawPort {
            guard !rawPort.isEmpty else {
                throw failure(.invalidPort, "empty port after \"\(host):\"; leave out the colon for 5432")
            }
            guard rawPort.count <= 5, rawPort.allSatisfy(\.isASCIIDigit), let number = Int(rawPort),
                (1...65535).contains(number)
            else {
                throw failure(.invalidPort, "port \"\(rawPort)\" is not a number in 1...65535")
            }
            port = number
        }

        guard let username = Self.percentDecoded(rawUser) else {
            throw failure(.invalidPercentEncoding, "the user name has a bad %-escape")
        }
        guard !username.isEmpty else {
            throw failure(.missingUsername, "no user name; expected USER@\(host)")
        }
        var password: String?
        if let rawPassword {
            guard let decoded = Self.percentDecoded(rawPassword) else {
                throw failure(.invalidPercentEncoding, "the password has a bad %-escape")
            }
            password = decoded
        }

        var database: String?
        if !path.isEmpty {
            if path.contains("/") {
                throw failure(.invalidDatabase, "path \"/\(path)\" has more than one segment; expected /DATABASE")
            }
            guard let decoded = Self.percentDecoded(path) else {
                throw failure(.invalidPercentEncoding, "the database name has a bad %-escape")
            }
            database = decoded
        }

        self.init(host: host, port: port, username: username, password: password, database: database)

        for pair in query.split(separator: "&") {
            let rawName: Substring
            let rawValue: Substring
            if let equals = pair.firstIndex(of: "=") {
                rawName = pair[..<equals]
                rawValue = pair[pair.index(after: equals)...]
            } else {
                rawName = pair
                rawValue = ""
            }
            guard let name = Self.percentDecoded(rawName), let value = Self.percentDecoded(rawValue) else {
                throw failure(.invalidPercentEncoding, "query parameter \"\(rawName)\" has a bad %-escape")
            }
            switch name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    let allowed = TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw failure(.invalidParameterValue, "sslmode \"\(value)\" is not one of \(allowed)")
                }
                tlsMode = mode
            case "application_name":
                applicationName = value
            case "connect_timeout":
                guard value.allSatisfy(\.isASCIIDigit), let seconds = Int(value), seconds > 0 else {
                    throw failure(
                        .invalidParameterValue, "connect_timeout \"\(value)\" is not a positive whole number of seconds")
                }
                connectTimeout = .seconds(seconds)
            default:
                let supported = Self.supportedURLParameters.joined(separator: ", ")
                throw failure(
                    .unsupportedParameter, "query parameter \"\(name)\" is not supported (supported: \(supported))")
            }
        }
    }

    // MARK: - Helpers

    /// `raw` with the password of a `scheme://user:password@host…` URL replaced by `***`;
    /// unchanged when it has no password. Never fails: it is used on URLs that did not parse.
    static func redacting(_ raw: String) -> String {
        guard let separator = raw.firstRange(of: "://") else { return raw }
        let afterScheme = raw[separator.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"),
            let colon = authority[..<at].firstIndex(of: ":")
        else { return raw }
        return String(raw[..<authority.index(after: colon)]) + "***" + String(raw[at...])
    }

    /// Decodes `%XX` escapes; `nil` for a malformed escape or bytes that are not UTF-8.
    /// `+` stays `+` (it means space only in HTML forms, not in URLs).
    static func percentDecoded(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Escapes everything but RFC 3986 unreserved characters, for ``description``.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return result
    }

    private static func trimmingWhitespace(_ text: String) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

extension Character {
    /// `0`…`9` only (not other Unicode digits, which `Int.init` would reject anyway).
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
