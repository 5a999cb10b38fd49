import BCSCore
import BCSUserManager
import Hummingbird
import Logging
import ServiceLifecycle

/// The gateway role: one front for every registered cluster's Kubernetes API.
///
/// This first slice proxies plain (non-upgrade) requests in direct mode, authorised by a co-hosted
/// user-manager, to the apiserver a cluster's agent reported. Cluster actors are created from the
/// user-manager's credentials at start-up and kept current by its credential feed.
public struct GatewayRole: RoleModule {
    public var role: Role { .gateway }
    let registry = ClusterRegistry()
    let access: AccessControl?
    let feed: CredentialFeed
    let logger: Logger

    public init(context: RoleContext, access: AccessControl?, feed: CredentialFeed) {
        self.access = access
        self.feed = feed
        self.logger = context.logger
    }

    public func addRoutes(to router: Router<BCSRequestContext>) {
        KubeProxy(registry: registry, access: access).addRoutes(to: router)
    }

    public var backgroundServices: [BackgroundService] {
        let (registry, access, feed, logger) = (self.registry, self.access, self.feed, self.logger)
        return [BackgroundService(name: "gateway-cluster-registry", role: Role.gateway.rawValue) {
            ClusterRegistryFeeder(registry: registry, access: access, feed: feed, logger: logger)
        }]
    }
}

/// Loads every cluster's credentials, then applies each change the credential feed delivers.
struct ClusterRegistryFeeder: Service {
    let registry: ClusterRegistry
    let access: AccessControl?
    let feed: CredentialFeed
    let logger: Logger

    func run() async throws {
        let changes = feed.subscribe()
        if let access {
            for credentials in try await access.currentCredentials() { await registry.apply(.updated(credentials)) }
            let count = await registry.count
            logger.info("gateway cluster registry loaded", metadata: ["clusters": "\(count)"])
        }
        for await change in changes.cancelOnGracefulShutdown() {
            await registry.apply(change)
        }
        await registry.shutdown()
    }
}
