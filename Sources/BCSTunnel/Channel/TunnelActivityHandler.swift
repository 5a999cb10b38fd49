import NIOCore

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
        // The gateway's server is shutting down gracefully: the session ends now, so its agent
        // reconnects (to another replica), and the server is not kept waiting for it.
        if event is ChannelShouldQuiesceEvent {
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
