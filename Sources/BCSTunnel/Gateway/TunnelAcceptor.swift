import BCSCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTP2

/// The gateway's connect route: checks an agent's handshake, then runs its tunnel session.
///
/// Header checks and the register token first (400 and 401 in the BCS envelope, as BCS 1.19.x
/// refuses them); then `101` and the connection becomes HTTP/2 with the gateway as client. The
/// session joins the pool for its cluster, leaves it when its connection closes, and the route
/// returns at once.
public struct TunnelAcceptor: Sendable {
    public let pool: TunnelPool
    let verifier: any RegisterTokenVerifier
    let keepalive: TunnelKeepalive
    let logger: Logger

    static let accepted = Counter(label: "bcs_tunnel_handshakes_total", dimensions: [("result", "accepted")])
    static let badRequest = Counter(label: "bcs_tunnel_handshakes_total", dimensions: [("result", "bad_request")])
    static let unauthorized = Counter(label: "bcs_tunnel_handshakes_total", dimensions: [("result", "unauthorized")])
    static let live = Meter(label: "bcs_tunnel_sessions")

    public init(pool: TunnelPool, verifier: any RegisterTokenVerifier, keepalive: TunnelKeepalive = .standard, logger: Logger) {
        self.pool = pool
        self.verifier = verifier
        self.keepalive = keepalive
        self.logger = logger
    }

    /// Adds `GET {path}` (by default BCS's connect route) to `router`.
    public func addRoute(to router: Router<BCSRequestContext>, path: String = TunnelProtocol.connectPath) {
        router.get(RouterPath(path)) { request, context in try await handle(request, context: context) }
    }

    /// Handles one connect request; returns once the session runs (or with the refusal).
    public func handle(_ request: Request, context: BCSRequestContext) async throws -> Response {
        let handshake: TunnelHandshake.Request
        switch TunnelHandshake.validate(method: request.method, headers: request.headers) {
        case .failure(let rejection):
            Self.badRequest.increment()
            logger.notice("tunnel: handshake refused", metadata: ["reason": "\(rejection.message)"])
            return refusal(rejection)
        case .success(let valid):
            handshake = valid
        }
        let authorised: Bool
        do {
            authorised = try await verifier.verify(clusterID: handshake.clusterID, token: handshake.token)
        } catch {
            logger.error("tunnel: register token check failed", metadata: ["cluster": "\(handshake.clusterID)", "error": "\(error)"])
            return refusal(.init(status: .serviceUnavailable, code: 1_405_050, message: "cannot check the register token now"))
        }
        guard authorised else {
            Self.unauthorized.increment()
            logger.warning("tunnel: wrong register token", metadata: ["cluster": "\(handshake.clusterID)"])
            return refusal(.unauthorized("failed authentication: the register token does not match cluster \(handshake.clusterID)"))
        }
        let session = try await TunnelAcceptor.takeOver(channel: context.channel, handshake: handshake, keepalive: keepalive, logger: logger)
        Self.accepted.increment()
        Self.live.increment()
        pool.add(session)
        logger.info("tunnel: session up", metadata: ["cluster": "\(handshake.clusterID)", "session": "\(session.id)",
                                                    "apiserver": "\(handshake.params.address)"])
        let (pool, logger, clusterID) = (self.pool, self.logger, handshake.clusterID)
        context.channel.closeFuture.whenComplete { _ in
            pool.remove(session)
            Self.live.decrement()
            logger.info("tunnel: session down", metadata: ["cluster": "\(clusterID)", "session": "\(session.id)"])
        }
        // The route returns while the session runs: waiting here kept this request's task, suspended
        // under the whole router and middleware chain, for the tunnel's lifetime (about a third of
        // the gateway's memory per idle tunnel). The takeover barrier drops this response; a graceful
        // shutdown of the server ends the session (`TunnelActivityHandler`).
        return Response(status: .switchingProtocols)
    }

    private func refusal(_ rejection: TunnelHandshake.Rejection) -> Response {
        BCSEnvelope<Int>(code: rejection.code, message: rejection.message, data: nil).response(status: rejection.status)
    }

    /// Answers 101 on `channel` and installs the gateway's HTTP/2 client side; the session it runs.
    ///
    /// The HTTP/2 handler writes its preface as soon as it is added, so it can only join the
    /// pipeline once the HTTP/1 codecs are gone: the takeover adds an activity handler that holds
    /// inbound bytes, and the HTTP/2 handlers are added behind it right after.
    static func takeOver(channel: any Channel, handshake: TunnelHandshake.Request, keepalive: TunnelKeepalive, logger: Logger) async throws -> TunnelSession {
        let stats = TunnelStatsBox()
        let sessionLogger = logger.with(cluster: handshake.clusterID)
        try await ConnectionTakeover.switchProtocols(channel: channel, head: TunnelHandshake.switchingResponse(for: handshake, loop: TunnelHandshake.loopName(channel.eventLoop))) { pipeline in
            try pipeline.add(TunnelActivityHandler(liveness: TunnelLiveness(keepalive: keepalive), holding: true))
        }
        let streams = try await channel.eventLoop.submit {
            let activity = try channel.pipeline.syncOperations.handler(type: TunnelActivityHandler.self)
            return try installGatewayHTTP2(on: channel, after: activity, stats: stats, logger: sessionLogger)
        }.get()
        return TunnelSession(clusterID: handshake.clusterID, params: handshake.params, channel: channel, streams: streams, stats: stats)
    }
}

extension Logger {
    func with(cluster: String) -> Logger {
        var copy = self
        copy[metadataKey: "cluster"] = "\(cluster)"
        return copy
    }
}
