import BCSMongo
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What every role module gets from the process that hosts it.
public struct RoleContext: Sendable {
    /// The process's MongoDB client (shared by all roles; connects lazily).
    public let mongo: MongoClient
    /// The configured database.
    public let database: MongoDatabase
    /// All settings layers, so a role reads its own keys (declared in its `settings`).
    public let settings: LayeredSettings
    public let logger: Logger

    public init(mongo: MongoClient, database: MongoDatabase, settings: LayeredSettings, logger: Logger) {
        self.mongo = mongo
        self.database = database
        self.settings = settings
        self.logger = logger
    }
}

/// A setting a role adds to `bcs serve` (a flag, a `BCS_*` variable and a YAML key).
public struct SettingSpec: Sendable {
    public let key: String
    public let defaultValue: String?
    public let help: String

    public init(_ key: String, default defaultValue: String?, _ help: String) {
        self.key = key
        self.defaultValue = defaultValue
        self.help = help
    }
}

/// A background service a role runs under its supervisor, restarted on failure.
public struct BackgroundService: Sendable {
    public let name: String
    public let role: String
    public let policy: RestartPolicy
    public let make: @Sendable () -> any Service

    public init(name: String, role: String, policy: RestartPolicy = .default, make: @escaping @Sendable () -> any Service) {
        self.name = name
        self.role = role
        self.policy = policy
        self.make = make
    }
}

/// A role hosted by `bcs serve`: its routes and its supervised background services.
///
/// Modules are built after the configuration validated (their `init` may throw a
/// `ConfigurationError` for their own settings) and must not do I/O there: MongoDB may not be up yet.
/// Start-up work such as creating indexes belongs in a background service, which retries.
public protocol RoleModule: Sendable {
    var role: Role { get }
    func addRoutes(to router: Router<BCSRequestContext>)
    var backgroundServices: [BackgroundService] { get }
    /// A line `/readyz` adds about this role's view (a gateway replica's tunnels and peers), if any.
    var readinessNote: (@Sendable () -> String)? { get }
    /// Checks this role puts in front of public paths of any role in the process (the gateway's
    /// authorisation of `/bcsapi/v4/storage/…`), run before the path is rewritten or forwarded.
    var publicPathGuards: [PublicPathGuard] { get }
    /// Handlers this role puts in every HTTP connection's (and HTTP/2 stream's) pipeline, after the
    /// HTTP codec and before the router, made anew per connection (the gateway's fast path).
    var channelHandlers: (@Sendable () -> [any RemovableChannelHandler])? { get }
    /// Handlers this role puts in every HTTP/2 connection's pipeline (HTTPS front), after the
    /// HTTP/2 handler and before the stream multiplexer, made anew per connection: they see every
    /// stream's frames (the gateway answers fast-path GETs there without a stream channel).
    var http2ConnectionHandlers: (@Sendable () -> [any RemovableChannelHandler])? { get }
}

extension RoleModule {
    public var readinessNote: (@Sendable () -> String)? { nil }
    public var publicPathGuards: [PublicPathGuard] { [] }
    public var channelHandlers: (@Sendable () -> [any RemovableChannelHandler])? { nil }
    public var http2ConnectionHandlers: (@Sendable () -> [any RemovableChannelHandler])? { nil }
}

/// A check on every request under `prefix`; it throws the error to answer with.
public struct PublicPathGuard: Sendable {
    public let prefix: String
    public let check: @Sendable (Request) async throws -> Void

    public init(prefix: String, check: @escaping @Sendable (Request) async throws -> Void) {
        self.prefix = prefix
        self.check = check
    }
}
