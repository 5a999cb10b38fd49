import NIOCore
import NIOHTTP2

/// The first handler of a tunnel stream that got a stream channel — one with a request body, or an
/// upgrade — which hands the stream to the async forwarder (`ApiserverForwarder`) at its first frame.
///
/// Bodiless requests never get here: `ApiserverFastStreams` serves them from the connection's frames.
final class ForwarderHandoff: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    /// Installs the async forwarder's handler after this one and starts it; called once.
    private let handOver: () throws -> Void
    private var handedOver = false

    init(handOver: @escaping () throws -> Void) {
        self.handOver = handOver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !handedOver {
            handedOver = true
            do {
                try handOver()
            } catch {
                context.close(promise: nil)
                return
            }
        }
        context.fireChannelRead(data)
    }
}
