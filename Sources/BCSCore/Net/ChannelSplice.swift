import NIOCore

/// Joins two channels on the same event loop so bytes read from one are written to the other.
///
/// Used once an HTTP upgrade (exec, attach, port-forward, the agent tunnel) has switched
/// protocols: from then on the proxy must not re-frame anything. Backpressure is NIO's own: a side
/// only reads while its partner is writable. Half-close travels across (kubectl closing stdin
/// shuts the write side of the other connection), so both channels need
/// `ChannelOptions.allowRemoteHalfClosure` set.
public enum ChannelSplice {
    /// Installs the pair of handlers at the end of both pipelines; this must run on their event loop.
    ///
    /// `onFinished` runs once, after both channels have closed, with the bytes each side read.
    public static func join(
        _ first: any Channel, _ second: any Channel,
        onFinished: @escaping @Sendable (_ firstRead: Int, _ secondRead: Int) -> Void = { _, _ in }
    ) throws {
        let (a, b) = pair(first, second, onFinished: onFinished)
        try first.pipeline.syncOperations.addHandler(a)
        try second.pipeline.syncOperations.addHandler(b)
    }

    /// The two handlers of a splice, for callers that must place them in their pipelines themselves.
    public static func pair(
        _ first: any Channel, _ second: any Channel,
        onFinished: @escaping @Sendable (_ firstRead: Int, _ secondRead: Int) -> Void = { _, _ in }
    ) -> (SpliceHandler, SpliceHandler) {
        precondition(first.eventLoop === second.eventLoop, "spliced channels must share an event loop")
        first.eventLoop.preconditionInEventLoop()
        return SpliceHandler.matchedPair(tally: SpliceTally(onFinished: onFinished))
    }
}

/// Counts what each side read and reports once both have closed. Lives on one event loop.
final class SpliceTally {
    var read = [0, 0]
    var closed = 0
    let onFinished: @Sendable (Int, Int) -> Void
    init(onFinished: @escaping @Sendable (Int, Int) -> Void) { self.onFinished = onFinished }

    func sideClosed() {
        closed += 1
        if closed == 2 { onFinished(read[0], read[1]) }
    }
}

/// One half of a splice, after swift-nio-examples' GlueHandler, with half-close and byte counts.
public final class SpliceHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var partner: SpliceHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private(set) var finished = false
    private let side: Int
    private let tally: SpliceTally

    private init(side: Int, tally: SpliceTally) {
        self.side = side
        self.tally = tally
    }

    static func matchedPair(tally: SpliceTally) -> (SpliceHandler, SpliceHandler) {
        let first = SpliceHandler(side: 0, tally: tally)
        let second = SpliceHandler(side: 1, tally: tally)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // A channel that closed before the splice was installed never fires channelInactive here:
        // count it closed and close its partner, whichever of the two was added first.
        if !context.channel.isActive {
            finish()
            partner?.partnerClose()
        } else if partner?.finished == true {
            context.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        tally.read[side] += buffer.readableBytes
        partner?.partnerWrite(buffer)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        finish()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        partner?.partnerClose()
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
    }

    public func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        tally.sideClosed()
    }

    private func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    /// Shuts the write side once everything written before has gone out.
    private func partnerWriteEOF() {
        afterPendingWrites { context in context.close(mode: .output, promise: nil) }
    }

    /// Closes once everything written before has gone out: a `close` alone would discard writes
    /// still queued (the last bytes of an exec — its exit status — would be lost).
    private func partnerClose() {
        afterPendingWrites { context in context.close(promise: nil) }
    }

    private func afterPendingWrites(_ then: @escaping (ChannelHandlerContext) -> Void) {
        guard let context else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            then(loopBound.value)
        }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }
}
