import PostgresNIO
import Storage
import Testing

/// URL parsing: no database needed.
@Suite("PostgresConfiguration URL parsing")
struct PostgresConfigurationTests {
    @Test func parsesTheTestServerURL() throws {
        let configuration = try PostgresConfiguration(url: "postgres://postgres@127.0.0.1:54321/gateway_test")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 54321)
        #expect(configuration.username == "postgres")
        #expect(configuration.password == nil)
        #expect(configuration.database == "gateway_test")
        #expect(configuration.tlsMode == .disable)  // loopback: no TLS unless asked for
        #expect(configuration.applicationName == nil)
        #expect(configuration.connectTimeout == nil)

        let client = configuration.clientConfiguration
        #expect(client.host == "127.0.0.1")
        #expect(client.port == 54321)
        #expect(client.username == "postgres")
        #expect(client.password == nil)
        #expect(client.database == "gateway_test")
    }

    @Test func parsesPasswordEscapesParametersAndDefaults() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://market%40desk:p%40ss%2Fw:rd@db.example.com/ticks%20db"
                + "?sslmode=require&application_name=gateway&connect_timeout=5\n")
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 5432)
        #expect(configuration.username == "market@desk")
        #expect(configuration.password == "p@ss/w:rd")
        #expect(configuration.database == "ticks db")
        #expect(configuration.tlsMode == .require)
        #expect(configuration.applicationName == "gateway")
        #expect(configuration.connectTimeout == .seconds(5))
        #expect(configuration.clientConfiguration.password == "p@ss/w:rd")
        #expect(configuration.clientConfiguration.options.connectTimeout == .seconds(5))
    }

    @Test func sslmodeDisableIsAccepted() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u@db.example.com:6432/d?sslmode=disable")
        #expect(configuration.tlsMode == .disable)
        #expect(configuration.port == 6432)
    }

    @Test func remoteHostsPreferTLSByDefault() throws {
        #expect(try PostgresConfiguration(url: "postgres://u@db.example.com/d").tlsMode == .prefer)
        #expect(try PostgresConfiguration(url: "postgres://u@localhost/d").tlsMode == .disable)
        #expect(try PostgresConfiguration(url: "postgres://u@127.0.0.2/d").tlsMode == .disable)
        #expect(try PostgresConfiguration(url: "postgres://u@127.example.com/d").tlsMode == .prefer)
    }

    @Test func parsesBracketedIPv6AndNoDatabase() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u@[::1]:6543")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 6543)
        #expect(configuration.database == nil)
        #expect(configuration.tlsMode == .disable)
        #expect(configuration.description == "postgres://u@[::1]:6543?sslmode=disable")
    }

    @Test func descriptionHidesThePassword() throws {
        let configuration = try PostgresConfiguration(url: "postgres://trader:hunter2@10.0.0.5:5432/gw")
        #expect(configuration.description == "postgres://trader:***@10.0.0.5:5432/gw?sslmode=prefer")
        #expect(!"\(configuration)".contains("hunter2"))
    }

    struct BadURL: Sendable, CustomTestStringConvertible {
        let url: String
        let code: PostgresURLError.Code
        /// Text the message must contain: it names what is wrong.
        let mentions: String
        var testDescription: String { url }
    }

    @Test(arguments: [
        BadURL(url: "postgres://postgres@:5432/gateway_test", code: .missingHost, mentions: "no host"),
        BadURL(url: "postgres://postgres@/gateway_test", code: .missingHost, mentions: "no host"),
        BadURL(url: "postgres://", code: .missingHost, mentions: "no host"),
        BadURL(url: "postgres://postgres@127.0.0.1:54x2/gateway_test", code: .invalidPort, mentions: "port \"54x2\""),
        BadURL(url: "postgres://postgres@127.0.0.1:0/gateway_test", code: .invalidPort, mentions: "port \"0\""),
        BadURL(url: "postgres://postgres@127.0.0.1:65536/gateway_test", code: .invalidPort, mentions: "port \"65536\""),
        BadURL(url: "postgres://postgres@127.0.0.1:-1/gateway_test", code: .invalidPort, mentions: "port \"-1\""),
        BadURL(url: "postgres://postgres@127.0.0.1:/gateway_test", code: .invalidPort, mentions: "empty port"),
        BadURL(url: "mysql://root@127.0.0.1:3306/gateway", code: .unknownScheme, mentions: "scheme \"mysql\""),
        BadURL(url: "http://postgres@127.0.0.1:5432/gateway_test", code: .unknownScheme, mentions: "scheme \"http\""),
        BadURL(url: "127.0.0.1:5432/gateway_test", code: .missingScheme, mentions: "postgres://"),
        BadURL(url: "sqlite:/tmp/gateway.db", code: .missingScheme, mentions: "no scheme"),
        BadURL(url: "postgres://127.0.0.1:5432/gateway_test", code: .missingUsername, mentions: "no user name"),
        BadURL(url: "postgres://u@::1:5432/d", code: .invalidHost, mentions: "[::1]"),
        BadURL(url: "postgres://u@[::1/d", code: .invalidHost, mentions: "closing"),
        BadURL(url: "postgres://u@h1:5432,h2:5432/d", code: .invalidHost, mentions: "several"),
        BadURL(url: "postgres://u@%2Fvar%2Frun%2Fpostgresql/d", code: .invalidHost, mentions: "unix-socket"),
        BadURL(url: "postgres://u@h/d/extra", code: .invalidDatabase, mentions: "/d/extra"),
        BadURL(url: "postgres://u%zz@h/d", code: .invalidPercentEncoding, mentions: "user name"),
        BadURL(url: "postgres://u@h/d?sslmode=maybe", code: .invalidParameterValue, mentions: "sslmode \"maybe\""),
        BadURL(url: "postgres://u@h/d?connect_timeout=0", code: .invalidParameterValue, mentions: "connect_timeout"),
        BadURL(url: "postgres://u@h/d?pool_size=5", code: .unsupportedParameter, mentions: "\"pool_size\""),
    ])
    func rejectsWithAClearError(_ bad: BadURL) throws {
        let error = try #require(throws: PostgresURLError.self) {
            try PostgresConfiguration(url: bad.url)
        }
        #expect(error.code == bad.code)
        #expect(error.description.contains(bad.mentions), "\(error.description)")
        #expect(error.description.hasPrefix("invalid PostgreSQL URL"))
    }

    @Test func errorsNeverShowThePassword() throws {
        let error = try #require(throws: PostgresURLError.self) {
            try PostgresConfiguration(url: "postgres://trader:hunter2@db.example.com:port/gw")
        }
        #expect(error.code == .invalidPort)
        #expect(error.url == "postgres://trader:***@db.example.com:port/gw")
        #expect(!error.description.contains("hunter2"))
    }
}
