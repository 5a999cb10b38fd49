import BCSKube
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// A tunnel stream carrying one bodiless request, whose answer is handed part by part to an
/// `UpstreamResponseReceiver` on the receiver's own event loop — the gateway's fast path, which
/// runs a request on its client connection's loop without a task.
///
/// The stream is served by the connection's `TunnelClientStreams`, without a stream channel, on
/// the tunnel connection's loop, which may be another one: the answer's parts gathered in one read
/// cross over in one hop. HTTP/2 flow control holds the agent back: its window for the stream is
/// credited only as the receiver asks for more (`read()`) after taking what it was given.
public struct TunnelRelayStream: Sendable {
    let streams: NIOLoopBound<TunnelClientStreams>
    /// The stream's ID once it opened, on the connection's loop (nil before, or if it could not).
    let id: NIOLoopBoundBox<HTTP2StreamID?>
    let relay: NIOLoopBound<TunnelAnswerRelay>

    /// Asks for more of the answer; call on the receiver's loop.
    public func read() {
        let bytes = relay.value.takeCredit()
        guard bytes > 0 else { return }
        let (streams, id) = (self.streams, self.id)
        onStreamsLoop { if let id = id.value { streams.value.credit(id, bytes: bytes) } }
    }

    /// Stops delivering to the receiver and resets the stream; call on the receiver's loop.
    public func abandon() {
        relay.value.receiver = nil
        let (streams, id) = (self.streams, self.id)
        onStreamsLoop { if let id = id.value { streams.value.reset(id) } }
    }

    /// Runs `work` on the connection's loop: now if this is it, else after what was sent there before.
    private func onStreamsLoop(_ work: @escaping @Sendable () -> Void) {
        if streams.eventLoop.inEventLoop { work() } else { streams.eventLoop.execute(work) }
    }
}

extension TunnelSession {
    /// Opens a stream for a bodiless request. The stream is returned at once, on `receiverLoop`;
    /// it opens on the connection's loop (one hop, when that is another loop), and should the
    /// session have closed meanwhile, the receiver hears `upstreamClosed()`. Fails at once if the
    /// session has closed already.
    public func openRelayStream(headers: HPACKHeaders, to receiver: any UpstreamResponseReceiver,
                                on receiverLoop: any EventLoop) -> EventLoopFuture<TunnelRelayStream> {
        guard channel.isActive else { return receiverLoop.makeFailedFuture(TunnelError.sessionClosed) }
        let relay = NIOLoopBound(TunnelAnswerRelay(receiver: receiver), eventLoop: receiverLoop)
        let streams = clientStreams
        let id = NIOLoopBoundBox.makeEmptyBox(valueType: HTTP2StreamID.self, eventLoop: streams.eventLoop)
        let stream = TunnelRelayStream(streams: streams, id: id, relay: relay)
        let open: @Sendable () -> Void = {
            id.value = streams.value.openRelay(headers: headers, receiver: relay)
            if id.value == nil {
                relay.eventLoop.execute { relay.value.deliver([.closed]) }
            }
        }
        if streams.eventLoop === receiverLoop {
            open()
        } else {
            streams.eventLoop.execute(open)
        }
        return receiverLoop.makeSucceededFuture(stream)
    }
}

/// The receiver of one relayed answer, used only on the receiver's loop; nil once abandoned or done.
final class TunnelAnswerRelay {
    /// What the stream heard, in order; handed over once per read of the tunnel connection.
    enum Event: Sendable {
        case head(HTTPResponseHead)
        case body(ByteBuffer)
        case readComplete
        case end
        case closed
    }

    /// Credit is given back once this much of the stream's window was taken: half, as NIOHTTP2's
    /// stream channels do, so the agent keeps sending while the receiver writes.
    static let creditThreshold = TunnelProtocol.streamWindow / 2

    var receiver: (any UpstreamResponseReceiver)?
    /// Body bytes the receiver took that the agent's window does not have back yet.
    private var taken = 0

    init(receiver: any UpstreamResponseReceiver) {
        self.receiver = receiver
    }

    /// The bytes to credit now, if enough were taken to be worth a WINDOW_UPDATE.
    func takeCredit() -> Int {
        guard taken >= Self.creditThreshold, receiver != nil else { return 0 }
        defer { taken = 0 }
        return taken
    }

    func deliver(_ events: [Event]) {
        for event in events {
            guard let receiver else { return }
            switch event {
            case .head(let head): receiver.upstreamHead(head)
            case .body(let body):
                taken += body.readableBytes
                receiver.upstreamBody(body)
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
