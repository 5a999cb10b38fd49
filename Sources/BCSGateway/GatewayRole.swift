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
    let probeInterval: Duration
    let impersonate: Bool
    let audit = AuditLog()
    let logger: Logger

    public static let settings: [SettingSpec] = [
        SettingSpec("gateway-probe-interval", default: "30", "Seconds between /readyz probes of every cluster's apiserver."),
        SettingSpec("impersonate", default: "false",
                    "Forward non-admin users with Impersonate-User/Impersonate-Group so each cluster's RBAC applies (the cluster's token must be allowed to impersonate)."),
    ]

    public init(context: RoleContext, access: AccessControl?, feed: CredentialFeed) throws {
        let raw = context.settings.string("gateway-probe-interval", default: "30")
        guard let seconds = Double(raw), seconds > 0 else {
            throw ConfigurationError("--gateway-probe-interval must be a positive number, not \"\(raw)\"")
        }
        let impersonate = context.settings.string("impersonate", default: "false").lowercased()
        guard ["true", "false", "1", "0", "yes", "no"].contains(impersonate) else {
            throw ConfigurationError("--impersonate must be true or false, not \"\(impersonate)\"")
        }
        self.impersonate = ["true", "1", "yes"].contains(impersonate)
        self.access = access
        self.feed = feed
        self.probeInterval = .milliseconds(Int64(seconds * 1000))
        self.logger = context.logger
    }

    public func addRoutes(to router: Router<BCSRequestContext>) {
        KubeProxy(registry: registry, access: access, audit: audit, impersonate: impersonate).addRoutes(to: router)
        ClusterStatusController(registry: registry, access: access).addRoutes(to: router)
    }

    public var backgroundServices: [BackgroundService] {
        let (registry, access, feed, logger, interval, audit) = (self.registry, self.access, self.feed, self.logger, self.probeInterval, self.audit)
        return [
            BackgroundService(name: "gateway-audit-writer", role: Role.gateway.rawValue) { AuditWriter(audit: audit) },
            BackgroundService(name: "gateway-cluster-registry", role: Role.gateway.rawValue) {
                ClusterRegistryFeeder(registry: registry, access: access, feed: feed, logger: logger)
            },
            BackgroundService(name: "gateway-health-probes", role: Role.gateway.rawValue) {
                ClusterHealthProber(registry: registry, interval: interval)
            },
        ]
    }
}

/// Probes every cluster's apiserver on an interval, at most 16 at a time.
struct ClusterHealthProber: Service {
    let registry: ClusterRegistry
    let interval: Duration

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            let actors = await registry.all
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for actor in actors {
                    if running == 16 { await group.next(); running -= 1 }
                    group.addTask { await actor.probe() }
                    running += 1
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
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
