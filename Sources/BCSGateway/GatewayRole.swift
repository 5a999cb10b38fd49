import AsyncHTTPClient
import BCSCore
import BCSKube
import BCSMongo
import BCSTunnel
import BCSUserManager
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// The gateway role: one front for every registered cluster's Kubernetes API.
///
/// This first slice proxies plain (non-upgrade) requests in direct mode, authorised by a co-hosted
/// user-manager, to the apiserver a cluster's agent reported. Cluster actors are created from the
/// user-manager's credentials at start-up and kept current by its credential feed.
public struct GatewayRole: RoleModule {
    public var role: Role { .gateway }
    let registry = ClusterRegistry()
    let tunnels: TunnelPool
    let tunnelHealth = TunnelHealth()
    let tunnelAcceptor: TunnelAcceptor
    let access: AccessControl?
    let feed: CredentialFeed
    let probeInterval: Duration
    let impersonate: Bool
    let audit = AuditLog()
    let logger: Logger
    let forwarder: RoleForwarder
    let kubeconfigs: KubeconfigController
    let extraServices: [BackgroundService]
    /// With replicas: who holds which cluster's tunnel, and the links to the others.
    let directory: TunnelDirectory?
    let peers: PeerLinks?
    let database: MongoDatabase
    /// Access decisions, shared by the proxy and its event-loop fast path.
    let decisions: DecisionCache
    /// The event-loop fast path for plain GETs to direct-mode clusters (nil: turned off).
    let fastPath: FastPath?

    public static let settings: [SettingSpec] = [
        SettingSpec("gateway-probe-interval", default: "30", "Seconds between /readyz probes of every cluster's apiserver."),
        SettingSpec("usermanager-url", default: nil,
                    "Gateway without the usermanager role: base URL of a user-manager process (e.g. http://usermanager:8080) for /bcsapi/v4/usermanager/."),
        SettingSpec("storage-url", default: nil,
                    "Gateway without the storage role: base URL of a storage process (e.g. http://storage:8080) for /bcsapi/v4/storage/."),
        SettingSpec("kubeconfig-server", default: nil,
                    "The gateway's public base URL written into kubeconfigs (default: the scheme and Host of the request)."),
        SettingSpec("kubeconfig-ca-file", default: nil,
                    "PEM CA written into kubeconfigs (default: the gateway's --tls-cert)."),
        SettingSpec("gateway-fast-path", default: "true",
                    "Proxy plain GETs to direct-mode clusters whose access decision is cached on the connection's event loop (false: every request takes the ordinary path)."),
        SettingSpec("peer-secret", default: nil,
                    "Secret shared by every gateway replica: with it, a request for a cluster whose agent tunnel another replica holds is forwarded there (BCS_PEER_SECRET)."),
        SettingSpec("peer-url", default: nil,
                    "Where the other gateway replicas reach this one (e.g. http://10.0.3.7:8080, the pod IP); needed to publish this replica's tunnels."),
        SettingSpec("peer-ca-file", default: nil,
                    "PEM CA that signed the other replicas' certificates, for https:// peer URLs (default: the system's roots); names are not checked (peers are dialled by IP)."),
        SettingSpec("impersonate", default: "false",
                    "Forward non-admin users with Impersonate-User/Impersonate-Group so each cluster's RBAC applies (the cluster's token must be allowed to impersonate)."),
    ]

    /// `coHosted` are the roles of this process; `extraServices` run under the gateway's supervisor
    /// (the credential watcher when the user-manager runs elsewhere).
    public init(context: RoleContext, access: AccessControl?, feed: CredentialFeed, coHosted: [Role] = Role.allCases,
                extraServices: [BackgroundService] = []) throws {
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
        decisions = DecisionCache(access: access)
        self.feed = feed
        self.extraServices = extraServices
        func url(_ key: String) throws -> String? {
            guard let value = context.settings.optionalString(key) else { return nil }
            guard let parsed = URL(string: value), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw ConfigurationError("--\(key) must be an http:// or https:// URL, not \"\(value)\"")
            }
            return value
        }
        // The process-wide client: it is never shut down, so a role built but not run (tests) is safe.
        let client = HTTPClient.shared
        var routes: [RoleForwarder.Route] = []
        if !coHosted.contains(.usermanager) {
            routes.append(.init(publicPrefix: "/bcsapi/v4/usermanager/", rolePrefix: "/usermanager/", baseURL: try url("usermanager-url"),
                                setting: "usermanager-url", role: "usermanager"))
        }
        if !coHosted.contains(.storage) {
            routes.append(.init(publicPrefix: "/bcsapi/v4/storage/", rolePrefix: "/bcsstorage/v1/", baseURL: try url("storage-url"),
                                setting: "storage-url", role: "storage"))
        }
        var forwarder = RoleForwarder(routes: routes, client: client)
        let tlsCert = context.settings.optionalString("tls-cert")
        let caFile = context.settings.optionalString("kubeconfig-ca-file") ?? tlsCert
        var caPEM: String?
        if let caFile {
            guard let text = try? String(contentsOfFile: caFile, encoding: .utf8) else {
                throw ConfigurationError("cannot read \(caFile) for the kubeconfig CA")
            }
            caPEM = text
        }
        let health = tunnelHealth
        let changes = TunnelDirectory.Changes()
        let tunnels = TunnelPool { clusterID, live in
            health.changed(clusterID: clusterID, live: live)
            changes.mark()
        }
        if let secret = context.settings.optionalString("peer-secret") {
            guard secret.count >= 16 else { throw ConfigurationError("--peer-secret must be at least 16 characters") }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile = context.settings.optionalString("peer-ca-file") {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                    // Peers are dialled by pod IP, which their certificates rarely name; the chain must
                    // still end at this CA, and every request must still carry the peer secret.
                    tls.certificateVerification = .noHostnameVerification
                } catch {
                    throw ConfigurationError("cannot read --peer-ca-file \(caFile): \(error)")
                }
            }
            let peerURL = try url("peer-url")
            if peerURL == nil {
                context.logger.warning("--peer-secret without --peer-url: this replica forwards to others but its own tunnels are not published")
            }
            peers = try PeerLinks(secret: secret, tls: tls)
            directory = TunnelDirectory(database: context.database, peerURL: peerURL, changes: changes, logger: context.logger) {
                tunnels.clusterIDs.filter { tunnels.session(for: $0) != nil }
            }
        } else {
            peers = nil
            directory = nil
        }
        let acceptor = TunnelAcceptor(pool: tunnels, verifier: RegisterTokenCheck(access: access), logger: context.logger)
        self.tunnels = tunnels
        self.tunnelAcceptor = acceptor
        forwarder.local.append { request, context in
            guard request.method == .get, request.uri.path == TunnelProtocol.connectPath else { return nil }
            return try await acceptor.handle(request, context: context)
        }
        let kubeconfigs = KubeconfigController(access: access, serverURL: try url("kubeconfig-server"), caPEM: caPEM, tls: tlsCert != nil)
        forwarder.local.append { request, _ in try await kubeconfigs.answer(request) }
        self.kubeconfigs = kubeconfigs
        self.forwarder = forwarder
        self.probeInterval = .milliseconds(Int64(seconds * 1000))
        self.database = context.database
        let fast = context.settings.string("gateway-fast-path", default: "true").lowercased()
        guard ["true", "false", "1", "0", "yes", "no"].contains(fast) else {
            throw ConfigurationError("--gateway-fast-path must be true or false, not \"\(fast)\"")
        }
        fastPath = ["true", "1", "yes"].contains(fast)
            ? FastPath(decisions: decisions, tunnels: tunnels, directory: directory, routes: registry.routes, authorises: access != nil,
                       impersonate: self.impersonate, audit: audit, connections: UpstreamConnectionPools())
            : nil
        self.logger = context.logger
    }

    public func addRoutes(to router: Router<BCSRequestContext>) {
        KubeProxy(registry: registry, tunnels: tunnels, tunnelHealth: tunnelHealth, audit: audit, decisions: decisions,
                  impersonate: impersonate, directory: directory, peers: peers)
            .addRoutes(to: router)
        if let directory, let peers {
            ReplicaController(directory: directory, peers: peers, access: access).addRoutes(to: router)
        }
        ClusterStatusController(registry: registry, tunnels: tunnels, tunnelHealth: tunnelHealth, access: access).addRoutes(to: router)
        // With a co-hosted user-manager, BCS's connect path arrives here after the prefix rewrite;
        // otherwise `RoleForwarder` hands it over (see `init`).
        tunnelAcceptor.addRoute(to: router, path: "/usermanager/v1/websocket/connect")
        kubeconfigs.addRoutes(to: router)
        forwarder.addRoutes(to: router)
    }

    public var channelHandlers: (@Sendable () -> [any RemovableChannelHandler])? {
        guard let fastPath else { return nil }
        return { [FastProxyHandler(fastPath: fastPath)] }
    }

    public var http2ConnectionHandlers: (@Sendable () -> [any RemovableChannelHandler])? {
        guard let fastPath else { return nil }
        return { [HTTP2FastStreams(fastPath: fastPath)] }
    }

    public var publicPathGuards: [PublicPathGuard] {
        guard let access else { return [] }
        return [StorageAccessGuard(access: access).pathGuard]
    }

    public var readinessNote: (@Sendable () -> String)? {
        guard let directory, let peers else { return nil }
        return { ReplicaView(directory: directory, peers: peers).line }
    }

    public var backgroundServices: [BackgroundService] {
        let (registry, access, feed, logger, interval, audit) = (self.registry, self.access, self.feed, self.logger, self.probeInterval, self.audit)
        let sharedProbes = ClusterHealthProber.Shared(database: database)
        let replication = directory.map { directory in
            [BackgroundService(name: "gateway-tunnel-directory", role: Role.gateway.rawValue) { TunnelDirectory.Publisher(directory: directory, peers: peers) }]
        } ?? []
        return [
            BackgroundService(name: "gateway-audit-writer", role: Role.gateway.rawValue) { AuditWriter(audit: audit) },
        ] + replication + extraServices + [
            BackgroundService(name: "gateway-cluster-registry", role: Role.gateway.rawValue) {
                ClusterRegistryFeeder(registry: registry, access: access, feed: feed, logger: logger)
            },
            BackgroundService(name: "gateway-health-probes", role: Role.gateway.rawValue) {
                ClusterHealthProber(registry: registry, interval: interval, shared: sharedProbes, logger: logger)
            },
        ]
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
