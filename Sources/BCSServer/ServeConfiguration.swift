import BCSCore
import BCSMongo
import Foundation
import Logging

/// Everything `bcs serve` needs, resolved from flags, `BCS_*` environment variables and the YAML
/// file (in that order of precedence) and validated before anything starts.
public struct ServeConfiguration: Sendable {
    public var roles: [Role]
    public var listen: ListenAddress
    public var mongoURI: MongoURI
    public var database: String
    public var tls: TLSFiles?
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// How long a graceful shutdown may take before in-flight work is cancelled.
    public var shutdownTimeout: Duration
    /// Threads (and so concurrent libmongoc operations) for the MongoDB client.
    public var mongoThreads: Int
    /// How often `/readyz`'s view of MongoDB is refreshed.
    public var readinessInterval: Duration
    /// The layers the configuration came from; role modules read their own settings from them.
    public var layers: LayeredSettings

    /// Every setting of `bcs serve`: the process's own, then each role's. The YAML file accepts
    /// exactly these keys; each is also a flag and a `BCS_*` variable.
    public static var settings: [SettingSpec] { processSettings + RoleCatalog.settings }

    static let processSettings: [SettingSpec] = [
        SettingSpec("roles", default: "gateway,usermanager,storage", "Comma-separated roles to host: \(Role.validNames)."),
        SettingSpec("listen", default: "127.0.0.1:8080", "HOST:PORT to serve HTTP(S) on."),
        SettingSpec("mongodb-uri", default: "mongodb://127.0.0.1:27017", "MongoDB connection string (credentials allowed; never logged)."),
        SettingSpec("database", default: "bcs", "MongoDB database name."),
        SettingSpec("tls-cert", default: nil, "PEM certificate chain; with --tls-key the server speaks HTTPS."),
        SettingSpec("tls-key", default: nil, "PEM private key for --tls-cert."),
        SettingSpec("log-level", default: "info", "trace, debug, info, notice, warning, error or critical."),
        SettingSpec("log-format", default: "text", "text or json (one JSON object per line)."),
        SettingSpec("shutdown-timeout", default: "25", "Seconds a graceful shutdown may take before remaining work is cancelled."),
        SettingSpec("mongodb-threads", default: "8", "Threads running blocking libmongoc calls (concurrent MongoDB operations)."),
        SettingSpec("readiness-interval", default: "2", "Seconds between MongoDB pings behind /readyz."),
    ]

    public static var settingKeys: Set<String> { Set(settings.map(\.key)) }

    /// Resolves and validates the configuration; the error message is the one line to print.
    public static func resolve(_ layers: LayeredSettings) throws -> ServeConfiguration {
        func value(_ key: String) -> String {
            layers.lookup(key)?.value ?? processSettings.first { $0.key == key }?.defaultValue ?? ""
        }
        let roles = try Role.parseList(value("roles"))
        let listen = try ListenAddress(parsing: value("listen"))
        let mongoURI: MongoURI
        do {
            mongoURI = try MongoURI(value("mongodb-uri"))
        } catch let error as MongoError {
            throw ConfigurationError("invalid MongoDB URI: \(error.message)")
        }
        let database = value("database")
        guard !database.isEmpty, database.rangeOfCharacter(from: CharacterSet(charactersIn: "/\\. \"$")) == nil, database.utf8.count < 64 else {
            throw ConfigurationError("invalid database name \"\(database)\": MongoDB names cannot contain /\\. \"$ and are under 64 bytes")
        }
        let tls: TLSFiles?
        switch (layers.optionalString("tls-cert"), layers.optionalString("tls-key")) {
        case (nil, nil): tls = nil
        case (let cert?, let key?): tls = try TLSFiles(certificatePath: cert, keyPath: key)
        case (.some, nil): throw ConfigurationError("--tls-cert needs --tls-key")
        case (nil, .some): throw ConfigurationError("--tls-key needs --tls-cert")
        }
        return ServeConfiguration(
            roles: roles,
            listen: listen,
            mongoURI: mongoURI,
            database: database,
            tls: tls,
            logLevel: try Logger.Level.parse(value("log-level")),
            logFormat: try LogFormat.parse(value("log-format")),
            shutdownTimeout: .seconds(try positive(value("shutdown-timeout"), "shutdown-timeout")),
            mongoThreads: Int(try positive(value("mongodb-threads"), "mongodb-threads")),
            readinessInterval: .milliseconds(Int64(try positive(value("readiness-interval"), "readiness-interval") * 1000)),
            layers: layers
        )
    }

    private static func positive(_ text: String, _ key: String) throws -> Double {
        guard let v = Double(text), v > 0, v.isFinite else {
            throw ConfigurationError("--\(key) must be a positive number, not \"\(text)\"")
        }
        return v
    }
}
