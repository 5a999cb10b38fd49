import Logging
import NIOCore
import NIOHTTP2

/// Sits over the HTTP/2 handler: sends PINGs on the keepalive tick, measures RTT, closes a silent
/// peer, and closes a connection that can no longer open streams (GOAWAY, a connection error).
///
/// With `drainOnGoAway` (the gateway's side), a graceful GOAWAY — an agent retiring a session it
/// opened for load — marks the session draining instead: no new stream is chosen for it, the open
/// ones finish, and the agent closes the connection once they have (the gateway closes it itself
/// if it is still open a keepalive interval after its last stream).
final class TunnelPingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let liveness: TunnelLiveness
    private let stats: TunnelStatsBox
    private let logger: Logger
    private let drainOnGoAway: Bool
    private var timer: RepeatedTask?
    /// Ticks seen draining with no stream open.
    private var drainedTicks = 0

    init(liveness: TunnelLiveness, stats: TunnelStatsBox, logger: Logger, drainOnGoAway: Bool = false) {
        self.liveness = liveness
        self.stats = stats
        self.logger = logger
        self.drainOnGoAway = drainOnGoAway
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let interval = liveness.machine.checkInterval
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = bound.value
            handler.tick(context: context)
        }
    }

    private func tick(context: ChannelHandlerContext) {
        if drainOnGoAway {
            let now = stats.value
            drainedTicks = now.draining && now.openStreams == 0 ? drainedTicks + 1 : 0
            if drainedTicks >= 2 {
                context.close(promise: nil)
                return
            }
        }
        switch liveness.machine.tick(at: .now()) {
        case .none:
            break
        case .ping(let payload):
            let frame = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: payload), ack: false))
            context.writeAndFlush(NIOAny(frame), promise: nil)
        case .close(let silent):
            logger.warning("tunnel: peer silent, closing the connection", metadata: ["silent": "\(silent)"])
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .ping(let ping, ack: true):
            if let rtt = liveness.machine.roundTrip(ackPayload: ping.integer, at: .now()) { stats.pong(rtt: rtt) }
        case .goAway(_, .noError, _) where drainOnGoAway:
            logger.info("tunnel: the agent retires this session; draining it")
            stats.drain()
        case .goAway(_, let errorCode, _):
            // No new stream can open on this connection any more, yet PINGs would still be answered
            // and the session would look healthy: close it, so the agent dials a new one.
            logger.warning("tunnel: the peer sent GOAWAY, closing the connection", metadata: ["code": "\(errorCode)"])
            context.close(promise: nil)
        default:
            break
        }
    }

    /// An HTTP/2 connection error (NIOHTTP2 has sent GOAWAY): the connection cannot carry new
    /// streams, so it is closed rather than left to look alive.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("tunnel: connection error, closing the connection", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
