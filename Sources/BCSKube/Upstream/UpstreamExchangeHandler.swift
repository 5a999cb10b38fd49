import NIOCore
import NIOHTTP1

/// What receives an apiserver's answer: the handler of the request's own connection or stream.
public protocol UpstreamResponseReceiver: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    func upstreamBody(_ body: ByteBuffer)
    func upstreamEnd()
    /// A batch of reads ended: time to flush, and to read more if the client keeps up.
    func upstreamReadComplete()
    /// The connection closed or failed before the answer ended.
    func upstreamClosed()
}

/// The last handler of a pooled apiserver connection: hands each answer to the exchange that asked.
///
/// Between exchanges the connection sits in its pool with a read outstanding, so an apiserver
/// closing it is noticed at once (and anything it sends unasked closes it).
public final class UpstreamExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPClientResponsePart

    private var receiver: (any UpstreamResponseReceiver)?
    /// Set once by the pool: the connection closed while it waited there.
    var onIdleClose: (() -> Void)?
    private var isIdle = false
    private var context: ChannelHandlerContext?

    public func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    public func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func begin(_ receiver: any UpstreamResponseReceiver) {
        self.receiver = receiver
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
    public func abandon() { receiver = nil }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 1xx answers (a 100 Continue nobody asked for) are not the answer.
            if head.status.code >= 200 { receiver.upstreamHead(head) }
        case .body(let body):
            receiver.upstreamBody(body)
        case .end:
            self.receiver = nil
            receiver.upstreamEnd()
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.upstreamReadComplete()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if let receiver {
            self.receiver = nil
            receiver.upstreamClosed()
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
