import Logging
import NIOCore
import NIOHTTP2

/// Sits over the HTTP/2 handler: sends PINGs on the keepalive tick, measures RTT, closes a silent peer.
final class TunnelPingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let liveness: TunnelLiveness
    private let stats: TunnelStatsBox
    private let logger: Logger
    private var timer: RepeatedTask?

    init(liveness: TunnelLiveness, stats: TunnelStatsBox, logger: Logger) {
        self.liveness = liveness
        self.stats = stats
        self.logger = logger
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
        if case .ping(let ping, ack: true) = frame.payload,
           let rtt = liveness.machine.roundTrip(ackPayload: ping.integer, at: .now()) {
            stats.pong(rtt: rtt)
        }
    }
}
