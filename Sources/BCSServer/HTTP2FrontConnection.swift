import BCSCore
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

/// One HTTP/2 connection of the HTTPS front, whose streams become async channels only on demand.
///
/// The connection's pipeline: TLS, a `FlushCoalescer`, NIOHTTP2's handler, an `HTTP2QuiesceHandler`,
/// the roles' connection handlers (the gateway answers fast-path GETs there from their frames, with
/// no stream channel at all), then NIOHTTP2's stream multiplexer for every other stream. Each of
/// those streams' pipeline is the HTTP codec, the roles' stream handlers (the gateway's fast path
/// again) and a `SlowStreamHandoff`. A request no handler answers reaches the handoff, which wraps
/// the stream in an async channel and hands it to `serve`, which runs Hummingbird's responder on it.
struct HTTP2FrontConnection: Sendable {
    typealias Stream = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let channel: any Channel
    let streams: AsyncStream<Stream>

    /// Sets up HTTP/2 on a connection whose TLS settled on `h2`; call on its event loop.
    static func configure(_ channel: any Channel, connectionHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
                          streamHandlers: @escaping @Sendable () -> [any RemovableChannelHandler], logger: Logger) throws -> HTTP2FrontConnection {
        // Unbounded in count but not in practice: a stream appears here once per request the fast
        // path passed on, and HTTP/2's concurrent-stream limit (100) bounds those in flight.
        let (streams, continuation) = AsyncStream.makeStream(of: Stream.self)
        let pipeline = channel.pipeline.syncOperations
        // The answers of all streams that end in one event-loop tick leave in one TLS write.
        try pipeline.addHandler(FlushCoalescer())
        try pipeline.addHandler(NIOHTTP2Handler(mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()))
        try pipeline.addHandler(HTTP2QuiesceHandler())
        try pipeline.addHandlers(connectionHandlers())
        // NIOHTTP2's defaults for the stream channels, as `configureHTTP2Pipeline` sets them.
        try pipeline.addHandler(HTTP2StreamMultiplexer(
            mode: .server, channel: channel, targetWindowSize: 65535, outboundBufferSizeHighWatermark: 8196, outboundBufferSizeLowWatermark: 4092
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let streamPipeline = stream.pipeline.syncOperations
                try streamPipeline.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                try streamPipeline.addHandlers(streamHandlers())
                try streamPipeline.addHandler(SlowStreamHandoff(streams: continuation))
            }
        })
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
