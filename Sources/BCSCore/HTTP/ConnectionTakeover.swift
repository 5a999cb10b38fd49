import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Lets a route take over its HTTP/1.1 connection after answering `101 Switching Protocols`.
///
/// Hummingbird has no pass-through for upgrades, and NIO's typed upgraders compute their own
/// handshake; a proxy must instead send the upstream's 101 verbatim and then relay bytes untouched
/// (kubectl exec/attach/port-forward, the agent tunnel). The route calls `switchProtocols` with the
/// response head; the HTTP/1 codecs are removed and `configure` installs the new protocol's
/// handlers in their place, on the channel's event loop. Hummingbird's own handlers stay behind a
/// barrier that keeps them from seeing raw bytes, and the route returns once the channel closes.
public enum ConnectionTakeover {
    /// Sends `head`, swaps the HTTP/1 codecs for the handlers `configure` adds, and returns its result.
    ///
    /// `configure` receives an `UpgradedPipeline`; handlers it adds sit where the codecs were, so
    /// their inbound reads come straight from the socket (after TLS) and their writes go to it.
    public static func switchProtocols<Result: Sendable>(
        channel: any Channel,
        head: HTTPResponse,
        configure: @escaping @Sendable (UpgradedPipeline) throws -> Result
    ) async throws -> Result {
        try await channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            let codec = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
            let barrier = TakeoverBarrier()
            try pipeline.addHandler(barrier, position: .after(codec))
            let barrierContext = try pipeline.context(handler: barrier)
            barrierContext.writeAndFlush(NIOAny(HTTPResponsePart.head(head)), promise: nil)
            try? channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            // The codecs go before the new protocol's handlers arrive: those may write raw bytes
            // at once (an upstream's first frames), which the HTTP encoder must not see.
            pipeline.removeHandler(codec, promise: nil)
            if let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
                pipeline.removeHandler(decoder, promise: nil)
            }
            if let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self) {
                pipeline.removeHandler(encoder, promise: nil)
            }
            return try configure(UpgradedPipeline(channel: channel, barrier: barrier))
        }.get()
    }
}

/// Where an upgraded protocol's handlers go: between the socket and the HTTP server's own handlers.
///
/// Only valid inside `ConnectionTakeover.switchProtocols`'s `configure`, on the event loop.
public struct UpgradedPipeline {
    public let channel: any Channel
    let barrier: TakeoverBarrier

    /// Adds `handler` after the ones added before it, ahead of the barrier.
    public func add(_ handler: some ChannelHandler) throws {
        try channel.pipeline.syncOperations.addHandler(handler, position: .before(barrier))
    }
}

/// Keeps Hummingbird's handlers and an upgraded protocol apart once a connection is taken over.
///
/// Inbound: nothing the new protocol lets through reaches Hummingbird's HTTP parts. Outbound:
/// a response Hummingbird writes after the route returns is dropped, not sent as raw bytes — and
/// reported written: a failed write would make Hummingbird close the connection, and a route may
/// return while the new protocol still runs (the agent tunnel's does, so that the request's task
/// does not stay suspended deep in the router for the tunnel's lifetime).
final class TakeoverBarrier: ChannelDuplexHandler, Sendable {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed()
    }
}
