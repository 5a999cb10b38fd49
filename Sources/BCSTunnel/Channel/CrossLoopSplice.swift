import NIOCore
import Synchronization

/// Joins two channels that may live on different event loops, bytes each way, with backpressure and half-close.
///
/// `ChannelSplice` (BCSCore) needs both channels on one loop; an upgraded tunnel stream lives on its
/// tunnel connection's loop while the client (kubectl) connection was accepted on any loop. Here each
/// side's handler stays on its own loop and reaches the other by hopping to the partner's loop. A side
/// reads only while its partner reported itself writable; END_STREAM or a TCP half-close travels
/// across as `close(mode: .output)`; a close or an error closes both.
public enum CrossLoopSplice {
    /// Installs the pair; returns once both handlers are in place. `onFinished` runs once after both
    /// sides closed, with the bytes each side read.
    public static func join(
        _ first: any Channel, _ second: any Channel,
        onFinished: @escaping @Sendable (_ firstRead: Int, _ secondRead: Int) -> Void = { _, _ in }
    ) async throws {
        let tally = CrossLoopTally(onFinished: onFinished)
        let a = try await first.eventLoop.submit {
            let handler = CrossLoopSpliceHandler(side: 0, tally: tally)
            try first.pipeline.syncOperations.addHandler(handler)
            return NIOLoopBound(handler, eventLoop: first.eventLoop)
        }.get()
        let b = try await second.eventLoop.submit {
            let handler = CrossLoopSpliceHandler(side: 1, tally: tally)
            try second.pipeline.syncOperations.addHandler(handler)
            return NIOLoopBound(handler, eventLoop: second.eventLoop)
        }.get()
        first.eventLoop.execute { a.value.link(to: CrossLoopPartner(eventLoop: second.eventLoop, handler: b)) }
        second.eventLoop.execute { b.value.link(to: CrossLoopPartner(eventLoop: first.eventLoop, handler: a)) }
    }
}

/// The other side of a splice: its loop and its handler, only touched on that loop.
struct CrossLoopPartner: Sendable {
    let eventLoop: any EventLoop
    let handler: NIOLoopBound<CrossLoopSpliceHandler>

    func run(_ body: @escaping @Sendable (CrossLoopSpliceHandler) -> Void) {
        let handler = self.handler
        eventLoop.execute { body(handler.value) }
    }
}

/// Bytes read per side, reported once both sides closed.
final class CrossLoopTally: Sendable {
    private let state = Mutex<(read: [Int], closed: Int)>(([0, 0], 0))
    private let onFinished: @Sendable (Int, Int) -> Void

    init(onFinished: @escaping @Sendable (Int, Int) -> Void) { self.onFinished = onFinished }

    func add(_ bytes: Int, side: Int) { state.withLock { $0.read[side] += bytes } }

    func closed() {
        let done: (Int, Int)? = state.withLock { state in
            state.closed += 1
            return state.closed == 2 ? (state.read[0], state.read[1]) : nil
        }
        if let done { onFinished(done.0, done.1) }
    }
}

/// One side of a cross-loop splice; lives on its channel's loop.
final class CrossLoopSpliceHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let side: Int
    private let tally: CrossLoopTally
    private var context: ChannelHandlerContext?
    private var partner: CrossLoopPartner?
    private var early: [ByteBuffer] = []
    private var earlyEOF = false
    private var partnerWritable = true
    private var pendingRead = false
    private var finished = false

    init(side: Int, tally: CrossLoopTally) {
        self.side = side
        self.tally = tally
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !context.channel.isActive { finish() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func link(to partner: CrossLoopPartner) {
        self.partner = partner
        let pending = early
        early = []
        for buffer in pending { partner.run { $0.partnerWrite(buffer) } }
        if !pending.isEmpty { partner.run { $0.partnerFlush() } }
        if earlyEOF { partner.run { $0.partnerWriteEOF() } }
        if finished { partner.run { $0.partnerClose() } }
        if pendingRead, partnerWritable {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        tally.add(buffer.readableBytes, side: side)
        if let partner { partner.run { $0.partnerWrite(buffer) } } else { early.append(buffer) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.run { $0.partnerFlush() }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if let partner { partner.run { $0.partnerWriteEOF() } } else { earlyEOF = true }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.run { $0.partnerClose() }
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        partner?.run { $0.partnerClose() }
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        partner?.run { $0.partnerWritabilityChanged(writable) }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner != nil, partnerWritable { context.read() } else { pendingRead = true }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        tally.closed()
    }

    // MARK: Called on this loop by the partner

    func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func partnerFlush() {
        context?.flush()
    }

    func partnerWriteEOF() {
        context?.close(mode: .output, promise: nil)
    }

    func partnerClose() {
        context?.close(promise: nil)
    }

    func partnerWritabilityChanged(_ writable: Bool) {
        partnerWritable = writable
        if writable, pendingRead, partner != nil {
            pendingRead = false
            context?.read()
        }
    }
}
