import BCSKube
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// A tunnel stream carrying one bodiless request, whose answer is handed part by part to an
/// `UpstreamResponseReceiver` on the receiver's own event loop — the gateway's fast path, which
/// runs a request on its client connection's loop without a task.
///
/// The stream lives on the tunnel connection's loop, which may be another one: the answer's parts
/// gathered in one read cross over in one hop. The stream does not read on its own; the receiver
/// calls `read()` when its client can take more, so HTTP/2 flow control holds the agent back.
public struct TunnelRelayStream: Sendable {
    public let channel: any Channel
    let relay: NIOLoopBound<TunnelAnswerRelay>

    /// Asks for more of the answer.
    public func read() {
        channel.read()
    }

    /// Stops delivering to the receiver and resets the stream; call on the receiver's loop.
    public func abandon() {
        relay.value.receiver = nil
        channel.close(promise: nil)
    }
}

extension TunnelSession {
    /// Opens a stream for a bodiless request; the future completes on `receiverLoop` once the
    /// request headers are on their way (or fails when the session has closed).
    public func openRelayStream(headers: HPACKHeaders, to receiver: any UpstreamResponseReceiver,
                                on receiverLoop: any EventLoop) -> EventLoopFuture<TunnelRelayStream> {
        guard channel.isActive else { return receiverLoop.makeFailedFuture(TunnelError.sessionClosed) }
        let relay = TunnelAnswerRelay(receiver: receiver)
        let boundRelay = NIOLoopBound(relay, eventLoop: receiverLoop)
        let stats = statsBox
        return multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(TunnelAnswerHandler(relay: boundRelay))
                stats.streamOpened()
                stream.closeFuture.whenComplete { _ in stats.streamClosed() }
                stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: true)), promise: nil)
                stream.read()
            }
        }
        .hop(to: receiverLoop)
        .map { TunnelRelayStream(channel: $0, relay: boundRelay) }
    }
}

/// The receiver of one relayed answer, used only on the receiver's loop; nil once abandoned or done.
final class TunnelAnswerRelay {
    var receiver: (any UpstreamResponseReceiver)?

    init(receiver: any UpstreamResponseReceiver) {
        self.receiver = receiver
    }

    func deliver(_ events: [TunnelAnswerHandler.Event]) {
        for event in events {
            guard let receiver else { return }
            switch event {
            case .head(let head): receiver.upstreamHead(head)
            case .body(let body): receiver.upstreamBody(body)
            case .readComplete: receiver.upstreamReadComplete()
            case .end:
                self.receiver = nil
                receiver.upstreamEnd()
            case .closed:
                self.receiver = nil
                receiver.upstreamClosed()
            }
        }
    }
}

/// The stream's handler: turns its frames into answer events, sent across loops once per read.
final class TunnelAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload

    enum Event: Sendable {
        case head(HTTPResponseHead)
        case body(ByteBuffer)
        case readComplete
        case end
        case closed
    }

    private let relay: NIOLoopBound<TunnelAnswerRelay>
    private var pending: [Event] = []
    private var headReceived = false
    private var ended = false

    init(relay: NIOLoopBound<TunnelAnswerRelay>) {
        self.relay = relay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !ended else { return }
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            if !headReceived {
                guard let head = Self.responseHead(frame.headers) else {
                    // Not an answer: reset the stream, the receiver hears it closed.
                    context.close(promise: nil)
                    return
                }
                if head.status.code < 200 { return }  // interim answers are not relayed
                headReceived = true
                pending.append(.head(head))
            }
            if frame.endStream { finish() }
        case .data(let frame):
            if case .byteBuffer(let buffer) = frame.data, buffer.readableBytes > 0 { pending.append(.body(buffer)) }
            if frame.endStream { finish() }
        default:
            break
        }
    }

    private func finish() {
        guard headReceived else { return }
        ended = true
        pending.append(.end)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !ended { pending.append(.readComplete) }
        send()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !ended {
            ended = true
            pending.append(.closed)
        }
        send()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func send() {
        guard !pending.isEmpty else { return }
        let events = pending
        pending = []
        let relay = self.relay
        if relay.eventLoop.inEventLoop {
            relay.value.deliver(events)
        } else {
            relay.eventLoop.execute { relay.value.deliver(events) }
        }
    }

    /// The HTTP/1.1 head of an answer's header block; nil without a numeric `:status`.
    static func responseHead(_ block: HPACKHeaders) -> HTTPResponseHead? {
        guard let text = block.first(name: ":status"), let code = Int(text), (100...999).contains(code) else { return nil }
        var headers = HTTPHeaders()
        headers.reserveCapacity(block.count)
        for (name, value, _) in block where !name.hasPrefix(":") { headers.add(name: name, value: value) }
        return HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers)
    }
}
