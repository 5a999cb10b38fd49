import Foundation
import Logging
import NIOCore
import NIOHTTP2
import Synchronization

/// What a session's users see of its health: since when, the last PING ACK, the RTT, open streams.
public struct TunnelStats: Sendable, Equatable {
    public var connectedAt: Date
    public var lastPong: Date?
    public var rtt: Duration?
    public var openStreams: Int
}

/// The stats of one session, written by its handlers and read from any thread.
final class TunnelStatsBox: Sendable {
    private let state: Mutex<TunnelStats>

    init(connectedAt: Date = Date()) {
        state = Mutex(TunnelStats(connectedAt: connectedAt, lastPong: nil, rtt: nil, openStreams: 0))
    }

    var value: TunnelStats { state.withLock { $0 } }
    func pong(rtt: Duration) { state.withLock { $0.lastPong = Date(); $0.rtt = rtt } }
    func streamOpened() { state.withLock { $0.openStreams += 1 } }
    func streamClosed() { state.withLock { $0.openStreams -= 1 } }
}

/// The keepalive state shared by the two handlers of one connection (on its event loop).
final class TunnelLiveness {
    var machine: KeepaliveStateMachine
    init(keepalive: TunnelKeepalive) { machine = KeepaliveStateMachine(keepalive: keepalive, now: .now()) }
}

/// Sits under the HTTP/2 handler and notes every byte read as a sign of the peer's life.
///
/// Created `holding`, it keeps what it reads until `release()`: on the gateway the HTTP/2
/// handlers can only be added once the HTTP/1 codecs have left, and the agent's first frames may
/// arrive in between.
final class TunnelActivityHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let liveness: TunnelLiveness
    private var held: [NIOAny]?
    private var context: ChannelHandlerContext?

    init(liveness: TunnelLiveness, holding: Bool = false) {
        self.liveness = liveness
        self.held = holding ? [] : nil
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        liveness.machine.bytesRead(at: .now())
        if held != nil { held?.append(data) } else { context.fireChannelRead(data) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if held == nil { context.fireChannelReadComplete() }
    }

    /// HTTP/2 has no half-closed connection: the peer's EOF ends the session at once (the takeover
    /// enabled remote half-closure for upgrades, so without this a closed agent would linger).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Passes on what was held, and everything after it.
    func release() {
        guard let pending = held else { return }
        held = nil
        guard let context else { return }
        for data in pending { context.fireChannelRead(data) }
        if !pending.isEmpty { context.fireChannelReadComplete() }
    }
}

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
