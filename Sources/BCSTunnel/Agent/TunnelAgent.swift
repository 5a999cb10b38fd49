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
    /// When to open more sessions than the first, and when to retire them.
    public var scaling: TunnelScaling = .standard
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
///
/// Its first session is kept up always. Under load it opens more, on other event loops, and
/// retires them once idle (`TunnelScaling`); those are not redialled when they drop.
public final class TunnelAgent: Sendable {
    public let configuration: TunnelAgentConfiguration
    let logger: Logger
    let state = Mutex<State>(State())
    private let group: any EventLoopGroup

    struct Session {
        let channel: any Channel
        let stats: TunnelStatsBox
        let isFirst: Bool
        /// The gateway's name for the event loop serving it (`TunnelProtocol.loopHeader`).
        let gatewayLoop: String?
    }

    /// Dials for an extra session at most this often until one lands on a gateway event loop
    /// that serves none of this agent's sessions yet.
    static let extraSessionDials = 4

    struct State {
        var sessions: [Int: Session] = [:]
        var nextID = 0
        var connecting = 0
        /// When an extra session last failed to connect (another waits `TunnelScaling.retryAfter`).
        var extraFailedAt: ContinuousClock.Instant?
        var connects = 0
        var lastError: String?
    }

    static let connects = Counter(label: "bcs_kubeagent_tunnel_connects_total")
    static let failures = Counter(label: "bcs_kubeagent_tunnel_failures_total")
    static let sessionsGauge = Gauge(label: "bcs_kubeagent_tunnel_sessions")

    public init(configuration: TunnelAgentConfiguration, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.logger = logger
        self.group = group
    }

    /// Whether the first session is up now, and its stats.
    public var stats: TunnelStats? {
        state.withLock { state in state.sessions.values.first { $0.isFirst && $0.channel.isActive }?.stats.value }
    }

    /// Sessions up now, the first included.
    public var sessionCount: Int { state.withLock { $0.sessions.values.filter { $0.channel.isActive }.count } }

    /// How many sessions were established so far.
    public var sessionsEstablished: Int { state.withLock { $0.connects } }

    /// The last error that ended or prevented a session.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Closes every connection (the agent dials its first session again); for tests and operators.
    public func dropConnection() {
        for session in state.withLock({ Array($0.sessions.values) }) { session.channel.close(promise: nil) }
    }

    /// Keeps a session up until the task is cancelled, and more while the load asks for them.
    public func run() async throws {
        let forwarder = try ApiserverForwarder(kube: configuration.kube, tokenPeriod: configuration.tokenPeriod,
                                                responseTimeout: configuration.apiserverResponseTimeout, logger: logger)
        let tls: NIOSSLContext? = configuration.gateway.useTLS ? try NIOSSLContext(configuration: configuration.trust.tlsConfiguration()) : nil
        await withDiscardingTaskGroup { group in
            group.addTask { await self.keepFirstSession(tls: tls, forwarder: forwarder) }
            guard configuration.scaling.maxSessions > 1 else { return }
            await scale(group: &group, tls: tls, forwarder: forwarder)
        }
        await forwarder.shutdown()
    }

    /// The first session: dialled again after every end, with capped, jittered backoff.
    private func keepFirstSession(tls: NIOSSLContext?, forwarder: ApiserverForwarder) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let (id, channel, streams) = try await connect(tls: tls, route: forwarder.route, isFirst: true)
                failures = 0
                Self.connects.increment()
                logger.info("agent: tunnel up", metadata: ["gateway": "\(configuration.gateway.authority)"])
                await serve(id: id, channel: channel, streams: streams, forwarder: forwarder)
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
    }

    /// Samples the sessions' load every `interval` and opens or retires extra sessions.
    private func scale(group: inout DiscardingTaskGroup, tls: NIOSSLContext?, forwarder: ApiserverForwarder) async {
        let scaling = configuration.scaling
        var scaler = SessionScaler(scaling: scaling)
        var last = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: scaling.interval)
            let now = ContinuousClock.now
            let (samples, connecting, failedAt) = state.withLock { state in
                (state.sessions.compactMap { id, session -> SessionScaler.Sample? in
                    guard session.channel.isActive else { return nil }
                    let stats = session.stats.value
                    return SessionScaler.Sample(id: id, opened: stats.streamsOpened, isFirst: session.isFirst, isDraining: stats.draining)
                }, state.connecting, state.extraFailedAt)
            }
            let mayOpen = failedAt.map { now - $0 >= scaling.retryAfter } ?? true
            let actions = scaler.decide(samples, connecting: connecting, mayOpen: mayOpen, elapsed: now - last, now: now)
            last = now
            for action in actions {
                switch action {
                case .open:
                    state.withLock { $0.connecting += 1 }
                    group.addTask {
                        await self.serveExtraSession(tls: tls, forwarder: forwarder)
                    }
                case .retire(let id):
                    guard let session = state.withLock({ $0.sessions[id] }) else { continue }
                    group.addTask { await self.retire(session) }
                }
            }
        }
    }

    /// One extra session, from dial to close; not redialled.
    ///
    /// The gateway's server hands accepted connections to its event loops in turn, so a new
    /// session may land on a loop that already serves one of ours: it would add no thread there,
    /// only split that loop's batches. Such a session is retired at once — the gateway may already
    /// have sent it requests, which are served — and another dialled (the next connection the
    /// gateway accepts goes to its next loop), a few times at most.
    private func serveExtraSession(tls: NIOSSLContext?, forwarder: ApiserverForwarder) async {
        await withDiscardingTaskGroup { group in
            do {
                var dialled = try await connect(tls: tls, route: forwarder.route, isFirst: false, counted: true)
                for _ in 1..<Self.extraSessionDials {
                    guard let duplicate = state.withLock({ $0.sessions[dialled.0] }), sharesGatewayLoop(dialled.0) else { break }
                    let (id, channel, streams) = dialled
                    group.addTask { await self.serve(id: id, channel: channel, streams: streams, forwarder: forwarder) }
                    group.addTask { await self.retire(duplicate, reason: "on a gateway event loop that serves another") }
                    state.withLock { $0.connecting += 1 }
                    dialled = try await connect(tls: tls, route: forwarder.route, isFirst: false, counted: true)
                }
                let (id, channel, streams) = dialled
                logger.info("agent: another tunnel session up for the load", metadata: ["sessions": "\(sessionCount)"])
                await serve(id: id, channel: channel, streams: streams, forwarder: forwarder)
                channel.close(promise: nil)
            } catch {
                state.withLock { $0.extraFailedAt = .now }
                let problem = AgentError.classify(error, address: configuration.gateway.authority)
                logger.warning("agent: could not open another tunnel session", metadata: ["error": "\(problem)"])
            }
        }
    }

    /// Retires an extra session without failing a request: a graceful GOAWAY first (the
    /// gateway stops choosing it), then, once the streams the gateway may have opened as the
    /// GOAWAY travelled have ended, the close.
    private func retire(_ session: Session, reason: String = "idle") async {
        session.stats.drain()
        let channel = session.channel
        // lastStreamID is the largest: a stream the gateway opened before it saw the GOAWAY is
        // still served (RFC 9113 §6.8).
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
        channel.writeAndFlush(goAway, promise: nil)
        logger.info("agent: retiring a tunnel session", metadata: ["reason": "\(reason)", "sessions": "\(sessionCount)"])
        let rtt = session.stats.value.rtt ?? .zero
        try? await Task.sleep(for: max(.seconds(2), rtt * 4))
        while channel.isActive, session.stats.value.openStreams > 0 {
            try? await Task.sleep(for: .milliseconds(200))
            if Task.isCancelled { break }
        }
        channel.close(promise: nil)
    }

    /// Dials, handshakes and installs the HTTP/2 server; returns the session's ID, its connection
    /// and the inbound streams the event loop did not serve itself (requests with a body, upgrades).
    /// `counted`: the caller counted this dial in `State.connecting`.
    func connect(tls: NIOSSLContext?, route: ApiserverRoute, isFirst: Bool, counted: Bool = false) async throws -> (Int, any Channel, AsyncStream<TunnelStream>) {
        defer { if counted { state.withLock { $0.connecting -= 1 } } }
        let configuration = self.configuration
        let gateway = configuration.gateway
        let key = TunnelHandshake.makeKey()
        let address = configuration.kube.server
        let params = TunnelParams(address: address, caPEM: configuration.kube.caPEM ?? "")
        let text = TunnelHandshake.requestText(host: gateway.authority, clusterID: configuration.clusterID,
                                               registerToken: configuration.registerToken, params: params, key: key, module: configuration.module)
        let handshakeLoop = freeLoop()
        let handshake = handshakeLoop.makePromise(of: GatewayHandshakeHandler.Accepted.self)
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
            let accepted = try await handshake.futureResult.get()
            let activity = accepted.activity
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
            let (id, count) = state.withLock { state in
                let id = state.nextID
                state.nextID += 1
                state.sessions[id] = Session(channel: channel, stats: stats, isFirst: isFirst, gatewayLoop: accepted.gatewayLoop)
                state.connects += 1
                if isFirst { state.lastError = nil }
                return (id, state.sessions.count)
            }
            Self.sessionsGauge.record(count)
            return (id, channel, streams)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Serves the streams of one session; returns when its connection has closed.
    func serve(id: Int, channel: any Channel, streams: AsyncStream<TunnelStream>, forwarder: ApiserverForwarder) async {
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
        let count = state.withLock { state in
            state.sessions[id] = nil
            return state.sessions.count
        }
        Self.sessionsGauge.record(count)
    }

    /// Whether another live session of this agent is served by the same gateway event loop as `id`.
    private func sharesGatewayLoop(_ id: Int) -> Bool {
        state.withLock { state in
            guard let loop = state.sessions[id]?.gatewayLoop else { return false }
            return state.sessions.contains { $0.key != id && $0.value.gatewayLoop == loop && $0.value.channel.isActive }
        }
    }

    /// An event loop serving none of the sessions, so that each extra one adds a thread at both
    /// ends (the gateway's accepting loops take turns too); any loop when all serve one.
    private func freeLoop() -> any EventLoop {
        let busy = state.withLock { $0.sessions.values.map { ObjectIdentifier($0.channel.eventLoop) } }
        for _ in 0..<8 {
            let loop = group.next()
            if !busy.contains(ObjectIdentifier(loop)) { return loop }
        }
        return group.next()
    }
}

extension TunnelAgent {
    /// Makes the first session's connection a black hole both ways (a frozen peer or a dead NAT
    /// path), for tests.
    func freezeConnection() async throws {
        guard let channel = state.withLock({ $0.sessions.values.first { $0.isFirst }?.channel }) else { return }
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
