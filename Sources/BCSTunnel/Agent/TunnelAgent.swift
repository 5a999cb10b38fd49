import BCSCore
import BCSKube
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import Synchronization

/// What a `TunnelAgent` needs: the gateway, the cluster's identity and token, its own apiserver.
public struct TunnelAgentConfiguration: Sendable {
    public var gateway: GatewayAddress
    public var trust: GatewayTrust
    public var clusterID: String
    public var registerToken: String
    /// The agent's own apiserver: the only place streams are forwarded to.
    public var kube: KubeConnection
    public var keepalive: TunnelKeepalive
    /// Reconnect delays: capped exponential with jitter (1 s doubling to 30 s).
    public var backoff: Backoff
    /// How long the service-account token is cached before its file is read again.
    public var tokenPeriod: Duration
    public var module: String
    /// How long the apiserver may take to begin an answer before the agent answers 504 itself.
    public var apiserverResponseTimeout: Duration = .seconds(120)

    public init(gateway: GatewayAddress, trust: GatewayTrust, clusterID: String, registerToken: String, kube: KubeConnection,
                keepalive: TunnelKeepalive = .standard, backoff: Backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: 0.5),
                tokenPeriod: Duration = .seconds(60), module: String = "kubeagent") {
        self.gateway = gateway
        self.trust = trust
        self.clusterID = clusterID
        self.registerToken = registerToken
        self.kube = kube
        self.keepalive = keepalive
        self.backoff = backoff
        self.tokenPeriod = tokenPeriod
        self.module = module
    }
}

/// The agent's side of the reverse tunnel: dial out, handshake, serve HTTP/2, reconnect forever.
///
/// The agent dials the gateway (clusters the control plane cannot reach can still reach it),
/// sends BCS's WebSocket handshake, and after the `101` acts as the HTTP/2 *server* on the
/// connection it opened: each stream the gateway opens is one request for its apiserver. PINGs
/// every 5 s measure the RTT; a gateway silent for 15 s is dead, the connection is closed and a
/// new one dialled after a capped, jittered backoff (no reconnect storms after a gateway restart).
public final class TunnelAgent: Sendable {
    public let configuration: TunnelAgentConfiguration
    let logger: Logger
    let state = Mutex<State>(State())
    private let group: any EventLoopGroup

    struct State {
        var channel: (any Channel)?
        var stats: TunnelStatsBox?
        var connects = 0
        var lastError: String?
    }

    static let connects = Counter(label: "bcs_kubeagent_tunnel_connects_total")
    static let failures = Counter(label: "bcs_kubeagent_tunnel_failures_total")

    public init(configuration: TunnelAgentConfiguration, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.logger = logger
        self.group = group
    }

    /// Whether a session is up now, and its stats.
    public var stats: TunnelStats? {
        state.withLock { state in state.channel?.isActive == true ? state.stats?.value : nil }
    }

    /// How many sessions were established so far.
    public var sessionsEstablished: Int { state.withLock { $0.connects } }

    /// The last error that ended or prevented a session.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Closes the current connection (the agent reconnects); for tests and operators.
    public func dropConnection() {
        state.withLock { $0.channel }?.close(promise: nil)
    }

    /// Keeps a session up until the task is cancelled.
    public func run() async throws {
        let forwarder = try ApiserverForwarder(kube: configuration.kube, tokenPeriod: configuration.tokenPeriod,
                                                responseTimeout: configuration.apiserverResponseTimeout, logger: logger)
        let tls: NIOSSLContext? = configuration.gateway.useTLS ? try NIOSSLContext(configuration: configuration.trust.tlsConfiguration()) : nil
        var failures = 0
        while !Task.isCancelled {
            do {
                let (channel, streams) = try await connect(tls: tls, route: forwarder.route)
                failures = 0
                Self.connects.increment()
                logger.info("agent: tunnel up", metadata: ["gateway": "\(configuration.gateway.authority)"])
                await serve(channel: channel, streams: streams, forwarder: forwarder)
                // Ended by cancellation (shutdown) rather than by the peer: close the connection too.
                channel.close(promise: nil)
                logger.warning("agent: tunnel down; reconnecting", metadata: ["gateway": "\(configuration.gateway.authority)"])
            } catch is CancellationError {
                break
            } catch {
                failures += 1
                Self.failures.increment()
                let problem = AgentError.classify(error, address: configuration.gateway.authority)
                state.withLock { $0.lastError = problem.description }
                logger.error("agent: tunnel connect failed", metadata: ["error": "\(problem)", "attempt": "\(failures)"])
            }
            let delay = configuration.backoff.delay(attempt: max(failures, 1))
            try? await Task.sleep(for: delay)
        }
        await forwarder.shutdown()
    }

    /// Dials, handshakes and installs the HTTP/2 server; returns the connection and the inbound
    /// streams the event loop did not serve itself (requests with a body, upgrades).
    func connect(tls: NIOSSLContext?, route: ApiserverRoute) async throws -> (any Channel, AsyncStream<TunnelStream>) {
        let configuration = self.configuration
        let gateway = configuration.gateway
        let key = TunnelHandshake.makeKey()
        let address = configuration.kube.server
        let params = TunnelParams(address: address, caPEM: configuration.kube.caPEM ?? "")
        let text = TunnelHandshake.requestText(host: gateway.authority, clusterID: configuration.clusterID,
                                               registerToken: configuration.registerToken, params: params, key: key, module: configuration.module)
        let handshakeLoop = group.next()
        let handshake = handshakeLoop.makePromise(of: NIOLoopBound<TunnelActivityHandler>.self)
        let keepalive = configuration.keepalive
        let bootstrap = ClientBootstrap(group: handshakeLoop)
            .connectTimeout(.seconds(10))
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let isAddress = (try? SocketAddress(ipAddress: gateway.host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : gateway.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(GatewayHandshakeHandler(
                        expectedAccept: TunnelHandshake.acceptValue(forKey: key), keepalive: keepalive, promise: handshake))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: gateway.host, port: gateway.port).get()
        } catch {
            handshake.fail(error)
            throw error
        }
        do {
            // A failed TLS handshake fails this write too; the promise below carries the cause.
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) {
                handshake.fail(AgentError.gatewayUnreachable("no answer to the tunnel handshake within 10 s"))
            }
            let activity = try await handshake.futureResult.get()
            timeout.cancel()
            let (streams, continuation) = AsyncStream.makeStream(of: TunnelStream.self)
            let stats = TunnelStatsBox()
            let logger = self.logger
            try await channel.eventLoop.submit {
                try installAgentHTTP2(on: channel, after: activity.value, route: route, stats: stats, logger: logger) { stream in
                    stream.eventLoop.makeCompletedFuture {
                        stats.streamOpened()
                        stream.closeFuture.whenComplete { _ in stats.streamClosed() }
                        try stream.pipeline.syncOperations.addHandler(ForwarderHandoff {
                            continuation.yield(try TunnelStream.install(on: stream, mode: .message, headDecidesMode: true))
                        })
                    }
                }
            }.get()
            channel.closeFuture.whenComplete { _ in continuation.finish() }
            state.withLock {
                $0.channel = channel
                $0.stats = stats
                $0.connects += 1
                $0.lastError = nil
            }
            return (channel, streams)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Serves the streams of one session; returns when its connection has closed.
    func serve(channel: any Channel, streams: AsyncStream<TunnelStream>, forwarder: ApiserverForwarder) async {
        await withDiscardingTaskGroup { group in
            for await stream in streams {
                group.addTask {
                    // A stream's work (an idle watch, say) ends when the stream or the session closes.
                    let work = Task { await forwarder.handle(stream) }
                    stream.channel.closeFuture.whenComplete { _ in work.cancel() }
                    await withTaskCancellationHandler { await work.value } onCancel: { work.cancel() }
                }
            }
        }
        state.withLock { $0.channel = nil }
    }
}

extension TunnelAgent {
    /// Makes the current connection a black hole both ways (a frozen peer or a dead NAT path), for tests.
    func freezeConnection() async throws {
        guard let channel = state.withLock({ $0.channel }) else { return }
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(BlackHoleHandler(), position: .first)
        }.get()
    }
}

/// Drops every byte in both directions while keeping the socket open.
final class BlackHoleHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed(())
    }
}
