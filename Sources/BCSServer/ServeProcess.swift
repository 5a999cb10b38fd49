import BCSCore
import BCSMongo
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The composition root of `bcs serve`: one process, its supervisor tree and its HTTP front.
///
/// The root `ServiceGroup` (SIGTERM/SIGINT → graceful shutdown, bounded by `shutdownTimeout`) runs,
/// in start order: the MongoDB client, a `core` supervisor (MongoDB readiness), one supervisor per
/// role, then the HTTP server. Shutdown runs in reverse: the server stops accepting and finishes
/// in-flight requests, roles stop, and the MongoDB pool closes last.
public struct ServeProcess: Sendable {
    public let configuration: ServeConfiguration
    public let logger: Logger
    /// Extra background services, placed under their role's supervisor (tests inject failing ones).
    public var backgroundServices: [BackgroundService] = []
    /// Extra routes (tests add slow ones to observe draining).
    public var extraRoutes: (@Sendable (Router<BCSRequestContext>) -> Void)?
    /// Called with the bound port once the server listens (useful with port 0).
    public var onServerRunning: (@Sendable (Int) async -> Void)?

    public init(configuration: ServeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Checks the listen address, then runs until a signal (or a fatal failure) ends the process.
    public func run() async throws {
        try await ListenCheck.verify(configuration.listen)
        let group = try makeServiceGroup(handleSignals: true)
        try await group.run()
    }

    /// Every route this process serves (`METHOD /path`), for documentation checks; connects to nothing.
    public func routeList() async throws -> [String] {
        let mongo = try MongoClient(uri: configuration.mongoURI, threads: 1, logger: logger)
        defer { Task { await mongo.shutdown() } }
        let context = RoleContext(mongo: mongo, database: mongo.database(configuration.database), settings: configuration.layers, logger: logger)
        let links = RoleCatalog.Links()
        let modules = try configuration.roles.compactMap { try RoleCatalog.module(for: $0, context: context, links: links, coHosted: configuration.roles) }
        return makeRouter(modules: modules, readiness: MongoReadiness()).routes.map { "\($0.method) \($0.path)" }
    }

    private func makeRouter(modules: [any RoleModule], readiness: MongoReadiness) -> Router<BCSRequestContext> {
        let router = Router(context: BCSRequestContext.self)
        router.addMiddleware {
            MetricsMiddleware()
            RequestLogMiddleware(.debug)
        }
        HealthController<BCSRequestContext>(readiness: readiness, notes: modules.compactMap(\.readinessNote)).addRoutes(to: router)
        for module in modules { module.addRoutes(to: router) }
        extraRoutes?(router)
        return router
    }

    /// Builds the root supervisor. With `handleSignals: false` the caller triggers shutdown itself.
    public func makeServiceGroup(handleSignals: Bool) throws -> ServiceGroup {
        let mongo = try MongoClient(uri: configuration.mongoURI, threads: configuration.mongoThreads, logger: logger)
        let readiness = MongoReadiness()

        let context = RoleContext(mongo: mongo, database: mongo.database(configuration.database), settings: configuration.layers, logger: logger)
        let links = RoleCatalog.Links()
        let modules = try configuration.roles.compactMap { try RoleCatalog.module(for: $0, context: context, links: links, coHosted: configuration.roles) }

        let router = makeRouter(modules: modules, readiness: readiness)

        let handlerMakers = modules.compactMap(\.channelHandlers)
        let channelHandlers: @Sendable () -> [any RemovableChannelHandler] = { handlerMakers.flatMap { $0() } }
        let http2Makers = modules.compactMap(\.http2ConnectionHandlers)
        let http2ConnectionHandlers: @Sendable () -> [any RemovableChannelHandler] = { http2Makers.flatMap { $0() } }
        let server: HTTPServerBuilder
        if let tls = configuration.tls {
            // HTTP/2 by ALPN for kubectl's ordinary requests; exec/attach/port-forward arrive as
            // HTTP/1.1 upgrades (kubectl offers no ALPN for them) and take the HTTP/1 path.
            // The handlers go on HTTP/1 connections and on each HTTP/2 stream alike.
            let sslContext = try SecureFrontChannel.sslContext(tls.configuration)  // a bad key or certificate fails here, at start
            server = HTTPServerBuilder { responder in
                NoDelayChannel(base: SecureFrontChannel(sslContext: sslContext, streamHandlers: channelHandlers, connectionHandlers: http2ConnectionHandlers,
                                                        responder: responder))
            }
        } else {
            server = HTTPServerBuilder { responder in
                NoDelayChannel(base: HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: channelHandlers())))
            }
            logger.warning("no --tls-cert/--tls-key given: serving plain HTTP; do not expose this port beyond a trusted network")
        }
        let listen = configuration.listen
        let scheme = configuration.tls == nil ? "http" : "https"
        let notify = onServerRunning
        let logger = self.logger
        let app = Application(
            responder: APIPrefixResponder(inner: router.buildResponder(), rewrites: APIPrefixResponder<RouterResponder<BCSRequestContext>>.rewrites(for: configuration.roles),
                                          guards: modules.flatMap(\.publicPathGuards)),
            server: server,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "bcs/\(BCSVersion.current)"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? listen.port
                logger.info("listening", metadata: ["address": "\(scheme)://\(listen.host):\(port)"])
                await notify?(port)
            },
            logger: logger
        )

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        services.append(.init(service: MongoClientService(client: mongo)))
        let monitor = BackgroundService(name: "mongodb-readiness", role: "core") { [configuration] in
            MongoReadinessMonitor(client: mongo, readiness: readiness, interval: configuration.readinessInterval, logger: logger)
        }
        let supervisorNames = ["core"] + configuration.roles.map(\.rawValue)
        for name in supervisorNames {
            let roleServices = modules.flatMap(\.backgroundServices)
            let children = ([monitor] + roleServices + backgroundServices).filter { $0.role == name }.map { spec in
                RestartingService(name: spec.name, policy: spec.policy, logger: logger, makeService: spec.make) as any Service
            }
            services.append(.init(
                service: RoleSupervisor(role: name, services: children, logger: logger),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup
            ))
        }
        services.append(.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup))

        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        logger.info("starting", metadata: [
            "version": "\(BCSVersion.current)", "roles": "\(configuration.roles.map(\.rawValue).joined(separator: ","))",
            "mongodb": "\(configuration.mongoURI)", "database": "\(configuration.database)",
        ])
        return ServiceGroup(configuration: groupConfiguration)
    }
}
