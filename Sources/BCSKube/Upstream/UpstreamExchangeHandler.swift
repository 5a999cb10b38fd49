import NIOCore
import NIOHTTP1

/// What receives an apiserver's answer: the handler of the request's own connection or stream.
public protocol UpstreamResponseReceiver: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    /// The head of an answer asked for as wire bytes (`UpstreamConnection.send(wireHead:to:)`).
    func upstreamWireHead(_ head: HTTP1ResponseHead)
    /// The head of an answer asked for as payload, as parsed: for a receiver that re-encodes it
    /// anyway (into HTTP/2) and need not have it as NIO's head type first (the default).
    func upstreamPayloadHead(_ head: HTTP1ResponseHead)
    /// Part of the body: its payload, or for an answer asked for as wire bytes, the bytes as they
    /// arrived (chunk framing included).
    func upstreamBody(_ body: ByteBuffer)
    func upstreamEnd()
    /// A batch of reads ended: time to flush, and to read more if the client keeps up.
    func upstreamReadComplete()
    /// The connection closed or failed before the answer ended.
    func upstreamClosed()
}

extension UpstreamResponseReceiver {
    public func upstreamWireHead(_ head: HTTP1ResponseHead) { upstreamHead(head.nioHead) }
    public func upstreamPayloadHead(_ head: HTTP1ResponseHead) { upstreamHead(head.nioHead) }
}

/// The last handler of a pooled apiserver connection: writes each request's head and hands its
/// answer, framed by `HTTP1ResponseFramer`, to the exchange that asked.
///
/// It replaces NIO's HTTP/1 encoder and decoder on these connections: a relay needs only where an
/// answer ends, and an HTTP/1.1 client can take the answer's bytes as they came.
/// Between exchanges the connection sits in its pool with a read outstanding, so an apiserver
/// closing it is noticed at once (and anything it sends unasked closes it).
public final class UpstreamExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var receiver: (any UpstreamResponseReceiver)?
    private var framer = HTTP1ResponseFramer()
    private var mode = HTTP1ResponseFramer.Mode.payload
    /// Changes whenever the exchange changes (begun, refused, abandoned, connection closed).
    private var generation = 0
    /// Bytes of an answer not yet complete enough to pass on (a partial head or chunk line).
    private var pending: ByteBuffer?
    /// Set once by the pool: the connection closed while it waited there.
    var onIdleClose: (() -> Void)?
    private var isIdle = false
    private var context: ChannelHandlerContext?

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    public func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Sends a request head (a request without a body) and expects its answer.
    func begin(_ receiver: any UpstreamResponseReceiver, head: ByteBuffer, mode: HTTP1ResponseFramer.Mode, toHEAD: Bool) {
        guard let context else {
            receiver.upstreamClosed()
            return
        }
        self.receiver = receiver
        self.mode = mode
        generation &+= 1
        pending = nil
        framer.expectAnswer(mode: mode, toHEAD: toHEAD)
        context.writeAndFlush(wrapOutboundOut(head), promise: nil)
        context.read()
    }

    /// A request that cannot be sent: the connection closes, and `receiver` hears it closed, now.
    /// Not from `channelInactive`: a connection closed in its connect callback, before it became
    /// active, never fires it (a refused head on a new connection waited for its deadline).
    func refuse(_ receiver: any UpstreamResponseReceiver) {
        self.receiver = nil
        generation &+= 1
        framer.reset()
        context?.close(promise: nil)
        receiver.upstreamClosed()
    }

    /// The exchange ended: wait in the pool; `onIdleClose` runs if the connection closes meanwhile.
    func enterIdle() {
        receiver = nil
        isIdle = true
        context?.read()
    }

    /// Taken from the pool for an exchange.
    func leaveIdle() { isIdle = false }

    /// Detaches the current exchange without telling it (it is going away itself).
    public func abandon() {
        receiver = nil
        generation &+= 1
        framer.reset()
        pending = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard receiver != nil, framer.isBusy else {
            context.close(promise: nil)  // unasked bytes
            return
        }
        var buffer = unwrapInboundIn(data)
        if var held = pending {
            pending = nil
            held.writeBuffer(&buffer)
            buffer = held
        }
        // The receivers called below may abandon the exchange, close the connection or (once it
        // ended) start the next one on it: the framer is parsed as a copy, kept only if none of
        // that happened meanwhile, and the end is reported once the parse is over.
        let generation = self.generation
        var parsing = framer
        var ended = false
        do {
            try parsing.parse(&buffer) { event in
                guard self.generation == generation, let receiver = self.receiver else { return }
                switch event {
                case .head(let head):
                    if self.mode == .wire { receiver.upstreamWireHead(head) } else { receiver.upstreamPayloadHead(head) }
                case .body(let body):
                    receiver.upstreamBody(body)
                case .end:
                    ended = true
                }
            }
        } catch {
            context.close(promise: nil)
            return
        }
        guard self.generation == generation else { return }
        framer = parsing
        guard ended else {
            if buffer.readableBytes > 0 { pending = buffer }
            return
        }
        let receiver = self.receiver
        self.receiver = nil
        // Bytes after the answer's end: nothing asked for them, and the connection is not reused.
        if buffer.readableBytes > 0 { context.close(promise: nil) }
        receiver?.upstreamEnd()
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        pending = nil
        generation &+= 1
        if let receiver {
            self.receiver = nil
            if framer.connectionClosed() {
                receiver.upstreamEnd()  // an answer framed by the connection's close
            } else {
                framer.reset()
                receiver.upstreamClosed()
            }
        } else if isIdle {
            isIdle = false
            onIdleClose?()
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
