import BCSCore
import BCSMongo
import Hummingbird
import Logging

/// The user-manager role: users and their tokens, clusters, register tokens, agent credentials
/// and permissions, under `/usermanager/v1` (the gateway's `/bcsapi/v4/usermanager/v1`).
///
/// Built from the process's `RoleContext`; it validates its settings here (a missing server
/// secret ends start-up with one line) and does no I/O: indexes, the seeded roles and the bootstrap
/// admin are set up by a background service that waits for MongoDB, and until it is done the
/// routes answer 503.
public struct UserManagerRole: RoleModule {
    public let role: Role = .usermanager
    public let settings: UserManagerSettings
    public let box: SecretBox
    /// Credential changes for the gateway's cluster actors (this process's reports at once, other
    /// processes' through `CredentialWatcher`).
    public let feed: CredentialFeed
    public let setupState: SetupState
    let services: UserManagerServices
    let database: MongoDatabase
    let logger: Logger

    public static var settingSpecs: [SettingSpec] { UserManagerSettings.specs }

    public init(context: RoleContext, feed: CredentialFeed = CredentialFeed()) throws {
        let settings = try UserManagerSettings.resolve(context.settings)
        self.settings = settings
        box = SecretBox(secret: settings.secret)
        self.feed = feed
        setupState = SetupState()
        database = context.database
        logger = context.logger
        services = UserManagerServices(
            users: MongoUserStore(database: database), clusters: MongoClusterStore(database: database),
            credentials: MongoCredentialStore(database: database), permissions: MongoPermissionStore(database: database),
            box: box, feed: feed, logger: context.logger
        )
        if settings.secretIsEphemeral {
            context.logger.warning("usermanager: DEVELOPMENT MODE: no server secret configured, generated one for this run only; tokens and credentials stored now cannot be read after a restart. Set BCS_SECRET_KEY or --secret-key-file in production.")
        }
    }

    public func addRoutes(to router: Router<BCSRequestContext>) {
        let group = router.group("usermanager/v1")
            .add(middleware: BCSErrorMiddleware(badRequestCode: UserManagerCode.badRequest, internalCode: UserManagerCode.internalFail,
                                                unavailableCode: UserManagerCode.internalFail))
            .add(middleware: SetupGateMiddleware(state: setupState))
        UserController(services: services).addRoutes(to: group)
        // Constant paths before parameterised ones of the same shape (`clusters/credentials`).
        CredentialsController(services: services).addRoutes(to: group)
        ClusterController(services: services).addRoutes(to: group)
        RegisterTokenController(services: services).addRoutes(to: group)
        PermissionController(services: services).addRoutes(to: group)
        group.addUnknownPathFallback(code: UserManagerCode.badRequest)
    }

    /// The start-up work (indexes, seeded roles, bootstrap admin).
    var setup: UserManagerSetup {
        UserManagerSetup(database: database, users: services.users, permissions: services.permissions, box: box,
                         bootstrapAdmin: settings.bootstrapAdmin, state: setupState, logger: logger)
    }

    /// A watcher bringing other processes' credential changes into `feed`.
    public var credentialWatcher: CredentialWatcher {
        CredentialWatcher(store: services.credentials, box: box, feed: feed, interval: settings.credentialPollInterval, logger: logger)
    }

    public var backgroundServices: [BackgroundService] {
        let module = self
        return [
            BackgroundService(name: "usermanager-setup", role: Role.usermanager.rawValue) { module.setup },
            BackgroundService(name: "usermanager-credential-watcher", role: Role.usermanager.rawValue) { module.credentialWatcher },
        ]
    }
}
