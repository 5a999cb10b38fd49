import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS

/// The HTTPS front: TLS, then HTTP/2 or HTTP/1.1 as ALPN decides.
///
/// In place of Hummingbird's `HTTP2UpgradeChannel`, which makes every HTTP/2 stream an async
/// channel served by a task of its own. kubectl speaks HTTP/2 to a TLS gateway, and the gateway's
/// fast path answers most of its requests on the event loop without any task: a task per stream
/// then only waited for the stream to end, and waking Swift Concurrency's threads for it took about
/// a fifth of the gateway's CPU per HTTP/2 request. Here a stream gets its async channel and task
/// only when the fast path passes its request on (`HTTP2FrontConnection`).
///
/// HTTP/1.1 connections (ALPN `http/1.1`, or none: kubectl's exec, attach and port-forward
/// upgrades) are Hummingbird's `HTTP1Channel`, unchanged.
struct SecureFrontChannel: HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2FrontConnection>>
        let channel: any Channel
    }

    let responder: Responder
    private let sslContext: NIOSSLContext
    private let http1: HTTP1Channel
    private let streamHandlers: @Sendable () -> [any RemovableChannelHandler]
    private let connectionHandlers: @Sendable () -> [any RemovableChannelHandler]

    /// The server's TLS context, offering `h2` and `http/1.1` by ALPN.
    static func sslContext(_ configuration: TLSConfiguration) throws -> NIOSSLContext {
        var tls = configuration
        tls.applicationProtocols = NIOHTTP2SupportedALPNProtocols
        return try NIOSSLContext(configuration: tls)
    }

    /// `streamHandlers` go on every HTTP/1.1 connection and every HTTP/2 stream, after the HTTP
    /// codec, as Hummingbird's `additionalChannelHandlers` do; `connectionHandlers` on every HTTP/2
    /// connection, after the HTTP/2 handler and before the stream multiplexer.
    init(sslContext: NIOSSLContext, streamHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
         connectionHandlers: @escaping @Sendable () -> [any RemovableChannelHandler], responder: @escaping Responder) {
        self.sslContext = sslContext
        self.connectionHandlers = connectionHandlers
        self.responder = responder
        self.streamHandlers = streamHandlers
        self.http1 = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: streamHandlers()))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
            let http1 = self.http1
            let streamHandlers = self.streamHandlers
            let connectionHandlers = self.connectionHandlers
            let alpn = NIOTypedApplicationProtocolNegotiationHandler<NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2FrontConnection>> { result, channel in
                switch result {
                case .negotiated("h2"):
                    return channel.eventLoop.makeCompletedFuture {
                        .http2(try HTTP2FrontConnection.configure(channel, connectionHandlers: connectionHandlers, streamHandlers: streamHandlers, logger: logger))
                    }
                case .negotiated("http/1.1"), .fallback:
                    return http1.setup(channel: channel, logger: logger).map { .http1_1($0) }
                case .negotiated:
                    // Not a protocol this server offered: a misbehaving client.
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(NIOHTTP2Errors.invalidALPNToken())
                }
            }
            try pipeline.addHandler(alpn)
            return Value(negotiated: alpn.protocolNegotiationResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection):
                await http1.handle(value: connection, logger: logger)
            case .http2(let connection):
                await connection.serve(with: self, logger: logger)
            }
        } catch {
            logger.debug("TLS connection ended before its protocol was settled", metadata: ["error": "\(error)"])
        }
    }
}
