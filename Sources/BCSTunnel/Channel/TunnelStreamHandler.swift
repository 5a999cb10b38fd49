import NIOCore
import NIOHPACK
import NIOHTTP2

/// The head of a tunnel stream: its header block and whether it also ended the stream.
struct StreamHead: Sendable {
    var headers: HPACKHeaders
    var endStream: Bool
}

/// One HTTP/2 stream of the tunnel: a head, then a body for async code, or raw bytes once switched.
///
/// Three modes. `message`: DATA payloads go to a backpressured `TunnelBody`; the handler only
/// reads while the body's consumer wants more, so an unread stream closes its own window and
/// nothing else. `stash`: an upgrade stream keeps what arrives after the head until the caller
/// chooses. `raw`: DATA payloads become `ByteBuffer` reads for the next handler (a splice), writes
/// of `ByteBuffer` become DATA, END_STREAM inbound is `ChannelEvent.inputClosed` and
/// `close(mode: .output)` sends END_STREAM — a half-close, as on a TCP connection.
final class TunnelStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTP2Frame.FramePayload

    enum Mode: Equatable { case message, stash, raw }

    private(set) var mode: Mode
    /// On the agent, the head decides: an upgrade stream is stashed, any other is a message.
    private let headDecidesMode: Bool
    private let headPromise: EventLoopPromise<StreamHead>
    private var headReceived = false
    private var inputEnded = false
    private var bodyFinished = false
    private var demand = true
    private var pendingRead = false
    private var stash: [ByteBuffer] = []
    /// Raw mode was entered but the stash (and a stashed END_STREAM) waits for the first read.
    private var rawFlushPending = false
    /// END_STREAM was sent in raw mode.
    private var outputEnded = false
    /// The last raw-mode DATA write, which an empty write (a marker) waits for.
    private var lastWrite: EventLoopFuture<Void>?
    private var context: ChannelHandlerContext?
    private var source: TunnelBody.Producer.Source?
    private(set) var body: TunnelBody!

    var head: EventLoopFuture<StreamHead> { headPromise.futureResult }

    init(eventLoop: any EventLoop, mode: Mode, headDecidesMode: Bool) {
        self.mode = mode
        self.headDecidesMode = headDecidesMode
        self.headPromise = eventLoop.makePromise(of: StreamHead.self)
        let delegate = TunnelBodyDelegate(eventLoop: eventLoop, handler: NIOLoopBound(WeakStreamHandler(self), eventLoop: eventLoop))
        let made = TunnelBody.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), finishOnDeinit: false, delegate: delegate
        )
        self.source = made.source
        self.body = TunnelBody(producer: made.sequence)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        fail(TunnelError.sessionClosed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if !headReceived {
                // Interim 1xx responses are not forwarded by either side; skip them if a peer sends one.
                if let status = headers.headers.first(name: ":status"), status.hasPrefix("1") { return }
                headReceived = true
                if headDecidesMode { mode = headers.headers.first(name: TunnelProtocol.upgradeHeader) != nil ? .stash : .message }
                headPromise.succeed(StreamHead(headers: headers.headers, endStream: headers.endStream))
            }
            if headers.endStream { endInput(context: context) }
        case .data(let data):
            if case .byteBuffer(let buffer) = data.data, buffer.readableBytes > 0 { deliver(buffer, context: context) }
            if data.endStream { endInput(context: context) }
        case .rstStream(let code):
            fail(TunnelError.streamReset(code))
        default:
            break
        }
    }

    private func deliver(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        switch mode {
        case .message:
            guard let source, !bodyFinished else { return }
            if case .stopProducing = source.yield(buffer) { demand = false }
        case .stash:
            stash.append(buffer)
        case .raw:
            if rawFlushPending { stash.append(buffer) } else { context.fireChannelRead(wrapInboundOut(buffer)) }
        }
    }

    private func endInput(context: ChannelHandlerContext) {
        guard !inputEnded else { return }
        inputEnded = true
        switch mode {
        case .message: finishBody(nil)
        case .stash: break
        case .raw: if !rawFlushPending { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        }
    }

    private func finishBody(_ error: (any Error)?) {
        guard !bodyFinished else { return }
        bodyFinished = true
        if let error { source?.finish(error) } else { source?.finish() }
        source = nil
    }

    private func fail(_ error: any Error) {
        headPromise.fail(error)
        if !inputEnded { finishBody(error) } else { finishBody(nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(TunnelError.sessionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        switch mode {
        case .message:
            if demand { context.read() } else { pendingRead = true }
        case .stash:
            if headReceived { pendingRead = true } else { context.read() }
        case .raw:
            if rawFlushPending { flushStash(context: context) }
            context.read()
        }
    }

    private func flushStash(context: ChannelHandlerContext) {
        rawFlushPending = false
        let stashed = stash
        stash = []
        for buffer in stashed { context.fireChannelRead(wrapInboundOut(buffer)) }
        if !stashed.isEmpty { context.fireChannelReadComplete() }
        if inputEnded { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
    }

    // MARK: Raw mode, outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        guard buffer.readableBytes > 0 else {
            // No empty DATA frames: a peer takes two in a row for an attack (NIOHTTP2 answers with
            // GOAWAY ENHANCE_YOUR_CALM, ending every stream of the tunnel). An empty write is a
            // splice's "once what I wrote before has gone" marker: it completes with the last write.
            context.flush()
            if let promise {
                if let lastWrite { lastWrite.cascade(to: promise) } else { promise.succeed(()) }
            }
            return
        }
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        lastWrite = written.futureResult
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(buffer)))), promise: written)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (self.mode, mode) {
        case (.raw, .output):
            guard !outputEnded else { promise?.succeed(()); return }
            outputEnded = true
            context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: promise)
        case (.raw, .all) where !outputEnded && context.channel.isActive:
            // A spliced partner that closed (the apiserver after `exec` output) must not lose the bytes
            // it wrote just before: a reset would drop DATA still queued. End the stream, then close.
            outputEnded = true
            let end = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: end)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            end.futureResult.whenComplete { _ in bound.value.close(mode: .all, promise: promise) }
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: Called on the event loop by TunnelStream and the body's delegate

    /// Completes the head and body with `error` (the handler never joined a pipeline).
    func abandon(_ error: any Error) {
        fail(error)
    }

    func send(_ payload: HTTP2Frame.FramePayload) -> EventLoopFuture<Void> {
        guard let context else { return headPromise.futureResult.eventLoop.makeFailedFuture(TunnelError.sessionClosed) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(payload), promise: promise)
        return promise.futureResult
    }

    /// Sends a whole small response — HEADERS, then DATA ending the stream — with one flush.
    func sendWhole(_ headers: HPACKHeaders, body: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context else { return headPromise.futureResult.eventLoop.makeFailedFuture(TunnelError.sessionClosed) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))), promise: promise)
        return promise.futureResult
    }

    func produceMore() {
        demand = true
        if pendingRead, mode == .message {
            pendingRead = false
            context?.read()
        }
    }

    func bodyTerminated() {
        // The consumer is gone before the peer finished: stop the peer (RST_STREAM CANCEL).
        if mode == .message, !inputEnded { context?.close(promise: nil) }
    }

    /// Leaves stash mode for raw bytes. What was stashed is delivered on the first `read()` that
    /// follows, so the caller can install its handlers (a splice) first and lose nothing.
    func switchToRaw() {
        guard mode != .raw else { return }
        mode = .raw
        rawFlushPending = true
        pendingRead = false
    }

    /// Leaves stash mode for a message body (a refused upgrade's answer).
    func switchToMessage() {
        guard mode == .stash else { return }
        mode = .message
        let stashed = stash
        stash = []
        for buffer in stashed {
            if let source, case .stopProducing = source.yield(buffer) { demand = false }
        }
        if inputEnded { finishBody(nil) }
        produceMore()
        if demand, !inputEnded { context?.read() }
    }
}
