import NIOCore
import Synchronization

/// Joins two channels so bytes read from one are written to the other.
///
/// Used once an HTTP upgrade (exec, attach, port-forward, the agent tunnel) has switched
/// protocols: from then on the proxy must not re-frame anything. Backpressure: a side only reads
/// while its partner's channel is writable. Half-close travels across (kubectl closing stdin shuts
/// the write side of the other connection), so both channels need
/// `ChannelOptions.allowRemoteHalfClosure`. The channels may live on different event loops (a
/// client connection and a stream of the agent tunnel); calls to the other side then hop to its loop,
/// in order.
public enum ChannelSplice {
    /// Installs the pair at the end of both pipelines (each on its own loop) and starts relaying.
    ///
    /// `onFinished` runs once, after both channels have closed, with the bytes each side read.
    public static func join(
        _ first: any Channel, _ second: any Channel,
        onFinished: @escaping @Sendable (_ firstRead: Int, _ secondRead: Int) -> Void = { _, _ in }
    ) async throws {
        let pair = Pair(first, second, onFinished: onFinished)
        try await first.eventLoop.submit { try first.pipeline.syncOperations.addHandler(pair.makeFirst()) }.get()
        try await second.eventLoop.submit { try second.pipeline.syncOperations.addHandler(pair.makeSecond()) }.get()
        pair.start()
    }

    /// The two halves of a splice, for callers that place the handlers themselves.
    ///
    /// Make each half on its channel's event loop (`makeFirst`/`makeSecond`), add it, and call
    /// `start()` once both are in their pipelines: until then each half holds what it reads.
    public struct Pair: Sendable {
        let links: (SpliceLink, SpliceLink)
        let tally: SpliceTally

        public init(_ first: any Channel, _ second: any Channel,
                    onFinished: @escaping @Sendable (_ firstRead: Int, _ secondRead: Int) -> Void = { _, _ in }) {
            links = (SpliceLink(channel: first), SpliceLink(channel: second))
            tally = SpliceTally(onFinished: onFinished)
        }

        /// The half for the first channel; call on its event loop.
        public func makeFirst() -> SpliceHandler { make(side: 0) }

        /// The half for the second channel; call on its event loop.
        public func makeSecond() -> SpliceHandler { make(side: 1) }

        private func make(side: Int) -> SpliceHandler {
            let (mine, theirs) = side == 0 ? (links.0, links.1) : (links.1, links.0)
            let handler = SpliceHandler(side: side, own: mine, partner: theirs, tally: tally)
            mine.box.value = handler
            return handler
        }

        /// Lets both halves relay what they hold and read on.
        public func start() {
            links.0.send { $0.start() }
            links.1.send { $0.start() }
        }
    }
}

/// A half's handle on the other: its channel (whose writability any thread may read) and a box
/// holding the handler, touched only on that channel's event loop.
struct SpliceLink: Sendable {
    let channel: any Channel
    let box: NIOLoopBoundBox<SpliceHandler?>

    init(channel: any Channel) {
        self.channel = channel
        box = .makeEmptyBox(valueType: SpliceHandler.self, eventLoop: channel.eventLoop)
    }

    /// Runs `body` with the handler on its loop: at once when already there, else queued in order.
    func send(_ body: @escaping @Sendable (SpliceHandler) -> Void) {
        let box = self.box
        if box.eventLoop.inEventLoop {
            if let handler = box.value { body(handler) }
        } else {
            box.eventLoop.execute { if let handler = box.value { body(handler) } }
        }
    }
}

/// Counts what each side read and reports once both have closed; the sides may be on two loops.
final class SpliceTally: Sendable {
    private let state = Mutex((read: [0, 0], closed: 0))
    let onFinished: @Sendable (Int, Int) -> Void
    init(onFinished: @escaping @Sendable (Int, Int) -> Void) { self.onFinished = onFinished }

    func add(_ bytes: Int, side: Int) { state.withLock { $0.read[side] += bytes } }

    func sideClosed() {
        let finished = state.withLock { state -> (Int, Int)? in
            state.closed += 1
            return state.closed == 2 ? (state.read[0], state.read[1]) : nil
        }
        if let finished { onFinished(finished.0, finished.1) }
    }
}

/// One half of a splice, after swift-nio-examples' GlueHandler, with half-close, byte counts,
/// a start gate and event-loop hops.
public final class SpliceHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let side: Int
    private let own: SpliceLink
    private let partner: SpliceLink
    private let tally: SpliceTally
    private var context: ChannelHandlerContext?
    private var started = false
    private var held: [ByteBuffer] = []
    private var heldInputClosed = false
    private var heldInactive = false
    private var pendingRead = false
    private(set) var finished = false

    init(side: Int, own: SpliceLink, partner: SpliceLink, tally: SpliceTally) {
        self.side = side
        self.own = own
        self.partner = partner
        self.tally = tally
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // A channel that closed before the splice was installed never fires channelInactive here.
        if !context.channel.isActive { heldInactive = true }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        own.box.value = nil
    }

    /// Both halves are in place: relay what arrived meanwhile, then read on.
    func start() {
        guard !started else { return }
        started = true
        let buffers = held
        held = []
        if !buffers.isEmpty {
            partner.send { partner in
                for buffer in buffers { partner.partnerWrite(buffer) }
                partner.partnerFlush()
            }
        }
        if heldInputClosed { partner.send { $0.partnerWriteEOF() } }
        if heldInactive {
            partner.send { $0.partnerClose() }
            finish()
        }
        if pendingRead, let context {
            pendingRead = false
            read(context: context)
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        tally.add(buffer.readableBytes, side: side)
        if started {
            partner.send { $0.partnerWrite(buffer) }
        } else {
            held.append(buffer)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if started { partner.send { $0.partnerFlush() } }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if started {
            partner.send { $0.partnerClose() }
            finish()
        } else {
            heldInactive = true
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            if started { partner.send { $0.partnerWriteEOF() } } else { heldInputClosed = true }
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        partner.send { $0.partnerClose() }
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner.send { $0.partnerBecameWritable() } }
    }

    public func read(context: ChannelHandlerContext) {
        if started, partner.channel.isWritable {
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

    fileprivate func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    fileprivate func partnerFlush() {
        context?.flush()
    }

    /// Shuts the write side once everything written before has gone out.
    fileprivate func partnerWriteEOF() {
        afterPendingWrites { context in context.close(mode: .output, promise: nil) }
    }

    /// Closes once everything written before has gone out: a `close` alone would discard writes
    /// still queued (the last bytes of an exec — its exit status — would be lost).
    fileprivate func partnerClose() {
        afterPendingWrites { context in context.close(promise: nil) }
    }

    private func afterPendingWrites(_ then: @escaping @Sendable (ChannelHandlerContext) -> Void) {
        guard let context else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            then(loopBound.value)
        }
    }

    fileprivate func partnerBecameWritable() {
        if pendingRead, let context {
            pendingRead = false
            read(context: context)
        }
    }
}
