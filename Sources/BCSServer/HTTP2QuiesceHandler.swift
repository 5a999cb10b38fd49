import NIOCore
import NIOHTTP2

/// Ends an HTTP/2 connection of the front gracefully when the server shuts down.
///
/// On `ChannelShouldQuiesceEvent` (the server stopped accepting) it sends GOAWAY naming the last
/// stream it took, so the client sends new requests elsewhere and retries any it sent meanwhile,
/// and closes the connection once the streams under way have ended — at once when there are none.
/// A connection error closes the connection, as Hummingbird's connection manager does.
final class HTTP2QuiesceHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private var context: ChannelHandlerContext?
    private var openStreams = 0
    private var lastStreamID = HTTP2StreamID.rootStream
    private var quiescing = false

    /// Tells the handler of streams opening and closing; NIOHTTP2 calls it on the connection's loop.
    struct StreamDelegate: NIOHTTP2StreamDelegate {
        let handler: NIOLoopBound<HTTP2QuiesceHandler>

        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) { handler.value.streamCreated(id) }
        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) { handler.value.streamClosed() }
    }

    /// Call on the connection's event loop.
    func streamDelegate(on eventLoop: any EventLoop) -> StreamDelegate {
        StreamDelegate(handler: NIOLoopBound(self, eventLoop: eventLoop))
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !quiescing {
            quiescing = true
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
            if openStreams == 0 { context.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func streamCreated(_ id: HTTP2StreamID) {
        openStreams += 1
        if id > lastStreamID { lastStreamID = id }
    }

    private func streamClosed() {
        openStreams -= 1
        if quiescing, openStreams == 0 { context?.close(promise: nil) }
    }
}
