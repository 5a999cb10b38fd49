import BCSKube
import NIOCore

/// Reads an HTTP/1.1 connection's requests as bytes, ahead of NIO's HTTP parser, and gives the
/// fast path's plain GETs to `FastProxyHandler` as wire bytes: the request head is rewritten on
/// bytes and the apiserver's answer goes back as it came (`HTTP1ResponseFramer` finds its end).
///
/// Why: parsing every request into NIO's and then HTTP types' header values, and the answer into
/// parts and back into bytes, was most of what the gateway spent per request beyond the kernel and
/// TLS. Every other request passes on to the parser untouched and whole: the lane follows its
/// framing (a length, chunks) to find where the next request starts; anything it cannot follow for
/// certain (an upgrade, a malformed or oversized head, an unknown coding) ends the lane's reading
/// for good, and the parser has the rest of the connection, as it would without the lane.
///
/// Order is kept: a request is looked at only when everything before it on the connection has been
/// answered (`FastProxyHandler.isQuiet`); until then its bytes wait here and the connection stops
/// reading.
final class HTTP1WireLane: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Longest request head the lane reads (kubectl's are under 1 KiB); a longer one goes to the
    /// parser, whose own limits apply.
    static let headLimit = 16 * 1024

    private enum Mode {
        /// At the start of a request.
        case boundary
        /// Passing a request's body of this many more bytes to the parser.
        case passingLength(Int)
        /// Passing a chunked request body to the parser, following its chunks.
        case passingChunked
        /// Everything goes to the parser from here on.
        case through
    }

    private let fastPath: FastPath
    /// Weak: both live in the pipeline, which holds them.
    private weak var proxy: FastProxyHandler?
    private var mode = Mode.boundary
    private var context: ChannelHandlerContext?
    /// Bytes read and not yet passed on or taken.
    private var pending: ByteBuffer?
    private var scanned = 0
    private var chunks = HTTP1ResponseFramer()
    /// A `read` held back while a request waits here.
    private var readHeld = false
    private var processing = false

    init(fastPath: FastPath, proxy: FastProxyHandler) {
        self.fastPath = fastPath
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        proxy?.laneRemoved()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if case .through = mode {
            context.fireChannelRead(data)
            return
        }
        if var held = pending {
            held.writeBuffer(&bytes)
            pending = held
        } else {
            pending = bytes
        }
        process(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if case .boundary = mode, pending?.readableBytes ?? 0 > 0, proxy?.isQuiet == false {
            readHeld = true  // a request waits for the one before it to be answered
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        context.fireChannelInactive()
    }

    /// `FastProxyHandler` became quiet: a request waiting here can be looked at.
    func proxyQuiet() {
        guard let context, pending != nil else {
            if readHeld, let context {
                readHeld = false
                context.read()
            }
            return
        }
        process(context: context)
        context.fireChannelReadComplete()
        if readHeld, pending == nil || !isWaiting {
            readHeld = false
            context.read()
        }
    }

    /// A request the fast path gave back before any of its answer went out: it goes to the parser
    /// as it arrived.
    func replay(_ head: ByteBuffer) {
        guard let context else { return }
        context.fireChannelRead(wrapInboundOut(head))
        context.fireChannelReadComplete()
    }

    /// Writes bytes of an answer to the client connection (below NIO's encoder).
    func write(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    private var isWaiting: Bool {
        if case .boundary = mode, pending?.readableBytes ?? 0 > 0, proxy?.isQuiet == false { return true }
        return false
    }

    private func process(context: ChannelHandlerContext) {
        guard !processing else { return }  // a replay or an exchange ending inside this loop
        processing = true
        defer {
            processing = false
            // Passing everything on for good: the lane leaves the pipeline (an upgraded
            // connection, such as an agent's tunnel, lives long and reads a lot).
            if case .through = mode, pending == nil {
                if readHeld {
                    readHeld = false
                    context.read()
                }
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            }
        }
        while var buffer = pending, buffer.readableBytes > 0 {
            pending = nil
            switch mode {
            case .through:
                context.fireChannelRead(wrapInboundOut(buffer))
            case .passingLength(let remaining):
                let passed = min(remaining, buffer.readableBytes)
                context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: passed)!))
                mode = passed == remaining ? .boundary : .passingLength(remaining - passed)
                if buffer.readableBytes > 0 { pending = buffer }
            case .passingChunked:
                var ended = false
                do {
                    try chunks.parse(&buffer) { event in
                        switch event {
                        case .body(let bytes): context.fireChannelRead(self.wrapInboundOut(bytes))
                        case .end: ended = true
                        case .head: break
                        }
                    }
                } catch {
                    mode = .through  // the parser will refuse it
                }
                if ended { mode = .boundary }
                if buffer.readableBytes > 0 {
                    pending = buffer
                    // A partial chunk line: wait for more (unless the parser takes over now).
                    if !ended, case .passingChunked = mode { return }
                }
            case .boundary:
                guard let proxy else {
                    mode = .through
                    pending = buffer
                    continue
                }
                guard proxy.isQuiet else {
                    pending = buffer  // waits for the answers before it
                    return
                }
                let head: HTTP1Head?
                do {
                    head = try HTTP1Head.read(from: &buffer, scanned: &scanned, limit: Self.headLimit)
                } catch {
                    mode = .through
                    pending = buffer
                    continue
                }
                guard let head else {
                    pending = buffer  // the rest of the head has not arrived
                    return
                }
                if buffer.readableBytes > 0 { pending = buffer }
                if let plan = fastPath.wirePlan(head, allocator: context.channel.allocator, loop: context.eventLoop) {
                    proxy.startWire(plan, clientHead: head.bytes)
                } else {
                    mode = Self.framing(of: head)
                    if case .passingChunked = mode { chunks.expectChunkedBody() }
                    if case .passingLength(0) = mode { mode = .boundary }
                    context.fireChannelRead(wrapInboundOut(head.bytes))
                }
            }
        }
    }

    /// Where a request passed to the parser ends (RFC 9112 §6.3), or `.through` when the lane
    /// cannot be sure: an upgrade or CONNECT (bytes after it are not HTTP), a coding other than
    /// chunked, a doubtful length.
    private static func framing(of head: HTTP1Head) -> Mode {
        guard head.equalsIgnoringCase(head.third, "http/1.1") || head.equalsIgnoringCase(head.third, "http/1.0"),
              !(head.first.count == 7 && head.string(head.first) == "CONNECT")
        else { return .through }
        guard let (length, coding) = head.bodyFraming(),
              !head.fields.contains(where: { $0.name.count == 7 && head.equalsIgnoringCase($0.name, "upgrade") })
        else { return .through }
        guard let coding else { return .passingLength(length ?? 0) }
        return length == nil && head.equalsIgnoringCase(coding, "chunked") ? .passingChunked : .through
    }
}
