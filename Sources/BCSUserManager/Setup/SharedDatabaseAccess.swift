import BCSCore
import ServiceLifecycle

/// The user-manager's decisions and credential changes for a gateway that runs without the
/// usermanager role, read from the MongoDB database both share.
///
/// Every role keeps its durable state in MongoDB, so a gateway-only process needs no HTTP hop to
/// authorise a request: it reads users, grants and sealed credentials directly, with the same
/// server secret. Credential changes arrive through `CredentialWatcher` polling.
public struct SharedDatabaseAccess: Sendable {
    public let access: AccessControl
    let watcher: CredentialWatcher

    public init(context: RoleContext, feed: CredentialFeed) throws {
        let settings = try UserManagerSettings.resolve(context.settings)
        guard !settings.secretIsEphemeral else {
            throw ConfigurationError("a gateway without the usermanager role reads cluster credentials from MongoDB and needs the usermanager's server secret: set BCS_SECRET_KEY or --secret-key-file")
        }
        let box = SecretBox(secret: settings.secret)
        let database = context.database
        let services = UserManagerServices(
            users: MongoUserStore(database: database), clusters: MongoClusterStore(database: database),
            credentials: MongoCredentialStore(database: database), permissions: MongoPermissionStore(database: database),
            box: box, feed: feed, logger: context.logger
        )
        access = AccessControl(services: services)
        watcher = CredentialWatcher(store: services.credentials, box: box, feed: feed, interval: settings.credentialPollInterval, logger: context.logger)
    }

    /// The watcher bringing credential reports made by user-manager processes into the feed.
    public var credentialWatcher: any Service { watcher }
}

extension AccessControl {
    /// Whether a cluster with this ID is registered.
    public func clusterExists(_ clusterID: String) async throws -> Bool {
        try await services.clusters.cluster(id: clusterID) != nil
    }
}
