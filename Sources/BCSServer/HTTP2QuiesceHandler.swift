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

    private var openStreams = 0
    private var lastStreamID = HTTP2StreamID.rootStream
    private var quiescing = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Right after the HTTP/2 handler, this sees every stream, whoever answers it.
        if let created = event as? NIOHTTP2StreamCreatedEvent {
            openStreams += 1
            if created.streamID > lastStreamID { lastStreamID = created.streamID }
        } else if event is StreamClosedEvent {
            openStreams = max(openStreams - 1, 0)
            if quiescing, openStreams == 0 { context.close(promise: nil) }
        } else if event is ChannelShouldQuiesceEvent, !quiescing {
            quiescing = true
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStreamID, errorCode: .noError, opaqueData: nil))
            context.writeAndFlush(wrapOutboundOut(goAway), promise: nil)
            if openStreams == 0 { context.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// A connection error ends the connection (NIOHTTP2 sent GOAWAY); a stream's error is that stream's.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOHTTP2Errors.StreamError { context.fireErrorCaught(error) } else { context.close(promise: nil) }
    }
}
