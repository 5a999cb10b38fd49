import BCSCore
import BCSKube
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// `bcs kube-agent` once its flags are parsed: report mode or tunnel mode, plus `/healthz` and `/metrics`.
public struct KubeAgentRunner: Sendable {
    public struct Options: Sendable {
        public var gateway: GatewayAddress
        public var trust: GatewayTrust
        public var clusterID: String
        public var registerToken: String
        public var kube: KubeConnection
        public var period: Duration
        public var useTunnel: Bool
        public var externalAddresses: [String]
        public var listen: ListenAddress
        /// Tunnel mode: when to hold more sessions than one.
        public var scaling: TunnelScaling = .standard

        public init(gateway: GatewayAddress, trust: GatewayTrust, clusterID: String, registerToken: String, kube: KubeConnection,
                    period: Duration, useTunnel: Bool, externalAddresses: [String], listen: ListenAddress) {
            self.gateway = gateway
            self.trust = trust
            self.clusterID = clusterID
            self.registerToken = registerToken
            self.kube = kube
            self.period = period
            self.useTunnel = useTunnel
            self.externalAddresses = externalAddresses
            self.listen = listen
        }
    }

    public let options: Options
    public let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT.
    public func run() async throws {
        MetricsBootstrap.bootstrap()
        let options = self.options
        let logger = self.logger
        let work: any Service
        let health: @Sendable () -> (ok: Bool, detail: String)
        if options.useTunnel {
            var configuration = TunnelAgentConfiguration(
                gateway: options.gateway, trust: options.trust, clusterID: options.clusterID, registerToken: options.registerToken,
                kube: options.kube, tokenPeriod: options.period
            )
            configuration.scaling = options.scaling
            let agent = TunnelAgent(configuration: configuration, logger: logger)
            work = AgentWork { try await agent.run() }
            health = {
                if let stats = agent.stats {
                    return (true, "tunnel up since \(stats.connectedAt), rtt \(stats.rtt.map { "\($0)" } ?? "unmeasured"), \(stats.openStreams) streams, \(agent.sessionCount) sessions")
                }
                return (false, "tunnel down: \(agent.lastError ?? "connecting")")
            }
        } else {
            let reporter = try CredentialReporter(settings: .init(
                gateway: options.gateway, trust: options.trust, clusterID: options.clusterID, registerToken: options.registerToken,
                kube: options.kube, externalAddresses: options.externalAddresses, period: options.period
            ), logger: logger)
            work = AgentWork(onEnd: { await reporter.shutdown() }) { try await reporter.run() }
            health = {
                if let error = reporter.lastError { return (false, "last report failed: \(error)") }
                return (reporter.reportsAccepted > 0, "\(reporter.reportsAccepted) reports accepted")
            }
        }
        logger.info("agent: starting", metadata: [
            "mode": "\(options.useTunnel ? "tunnel" : "report")", "gateway": "\(options.gateway.baseURL)", "cluster": "\(options.clusterID)",
            "apiserver": "\(options.kube.server)", "period": "\(options.period)",
        ])
        let router = Router()
        // Liveness: the process serves (restarting the agent would not mend a gateway that refuses it).
        router.get("healthz") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok: \(health().detail)\n")))
        }
        // Readiness: the tunnel is up, or the last credential report was accepted.
        router.get("readyz") { _, _ -> Response in
            let (ok, detail) = health()
            return Response(status: ok ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: "\(ok ? "ok" : "not ready"): \(detail)\n")))
        }
        router.get("metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: MetricsBootstrap.render())))
        }
        let app = Application(router: router, configuration: .init(address: .hostname(options.listen.host, port: options.listen.port),
                                                                   serverName: "bcs-kube-agent"), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app, work], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The agent's loop as a service that stops on graceful shutdown.
struct AgentWork: Service {
    let onEnd: @Sendable () async -> Void
    let body: @Sendable () async throws -> Void

    init(onEnd: @escaping @Sendable () async -> Void = {}, body: @escaping @Sendable () async throws -> Void) {
        self.onEnd = onEnd
        self.body = body
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown { try await body() }
        await onEnd()
    }
}
