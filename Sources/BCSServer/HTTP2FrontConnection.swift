import BCSCore
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

/// One HTTP/2 connection of the HTTPS front, whose streams become async channels only on demand.
///
/// Each stream's pipeline is the HTTP codec, the roles' stream handlers (the gateway's fast path)
/// and a `SlowStreamHandoff`. A request the fast path answers never reaches the handoff, so its
/// stream has no async channel and no task. A request passed on makes the handoff wrap the stream
/// in an async channel and hand it to `serve`, which runs Hummingbird's responder on it.
struct HTTP2FrontConnection: Sendable {
    typealias Stream = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let channel: any Channel
    let streams: AsyncStream<Stream>

    /// Sets up HTTP/2 on a connection whose TLS settled on `h2`; call on its event loop.
    static func configure(_ channel: any Channel, streamHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
                          logger: Logger) throws -> HTTP2FrontConnection {
        // Unbounded in count but not in practice: a stream appears here once per request the fast
        // path passed on, and HTTP/2's concurrent-stream limit (100) bounds those in flight.
        let (streams, continuation) = AsyncStream.makeStream(of: Stream.self)
        let pipeline = channel.pipeline.syncOperations
        // The answers of all streams that end in one event-loop tick leave in one TLS write.
        try pipeline.addHandler(FlushCoalescer())
        let quiesce = HTTP2QuiesceHandler()
        _ = try pipeline.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: .init(), streamConfiguration: .init(),
            streamDelegate: quiesce.streamDelegate(on: channel.eventLoop)
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let streamPipeline = stream.pipeline.syncOperations
                try streamPipeline.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                try streamPipeline.addHandlers(streamHandlers())
                try streamPipeline.addHandler(SlowStreamHandoff(streams: continuation))
            }
        }
        try pipeline.addHandler(quiesce)
        channel.closeFuture.whenComplete { _ in continuation.finish() }
        return HTTP2FrontConnection(channel: channel, streams: streams)
    }

    /// Runs the responder on every stream handed over, until the connection closes.
    func serve(with handler: some HTTPChannelHandler, logger: Logger) async {
        await withDiscardingTaskGroup { group in
            for await stream in streams {
                group.addTask { await handler.handleHTTP(asyncChannel: stream, logger: logger) }
            }
        }
    }
}

/// The last handler of an HTTP/2 stream: makes the stream an async channel for the responder when
/// a request part reaches it, which happens only when the fast path passed the request on.
final class SlowStreamHandoff: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let streams: AsyncStream<HTTP2FrontConnection.Stream>.Continuation
    private var handedOver = false

    init(streams: AsyncStream<HTTP2FrontConnection.Stream>.Continuation) {
        self.streams = streams
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !handedOver {
            handedOver = true
            do {
                // Puts the async channel's handler after this one, so the part goes on to it.
                let stream = try HTTP2FrontConnection.Stream(wrappingChannelSynchronously: context.channel)
                if case .terminated = streams.yield(stream) {
                    context.close(promise: nil)  // the connection is closing: nobody would answer
                    return
                }
            } catch {
                context.close(promise: nil)
                return
            }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Before a handoff nothing after this handler would hear of it: end the stream here.
        if handedOver { context.fireErrorCaught(error) } else { context.close(promise: nil) }
    }
}
