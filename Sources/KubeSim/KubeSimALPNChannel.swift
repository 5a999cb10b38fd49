import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2

/// HTTP/2 for clients that choose it by ALPN, `KubeSimChannel` (HTTP/1.1 with its upgrades) for the rest.
///
/// kubectl offers `h2` and `http/1.1` on ordinary requests and speaks HTTP/2 when the server picks
/// it, but its exec, attach and port-forward connections send no ALPN at all, because HTTP/2 cannot
/// carry `Upgrade` (kubectl-wire.md §0, §10); those fall back to HTTP/1.1 here. Sits inside
/// Hummingbird's TLS channel, which adds the TLS handler whose handshake result this waits for;
/// `h2` is among that handler's ALPN protocols only with `--http2`.
struct KubeSimALPNChannel: ServerChildChannel, HTTPChannelHandler {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<KubeSimChannel.Value, HTTP2Channel.Value>>
        let channel: any Channel
    }

    static let applicationProtocols = ["h2", "http/1.1"]

    let http1: KubeSimChannel
    let http2: HTTP2Channel
    var responder: HTTPChannelHandler.Responder { http1.responder }

    /// The server builder for `Application(server:)`, to be wrapped in `.tls(…)` with `applicationProtocols` set.
    static func builder(webSocket: @escaping KubeSimChannel.WebSocketDecision, spdy: @escaping KubeSimChannel.SPDYDecision) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            KubeSimALPNChannel(http1: KubeSimChannel(responder: responder, webSocket: webSocket, spdy: spdy),
                               http2: HTTP2Channel(responder: responder, configuration: .init()))
        }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.configureHTTP2AsyncSecureUpgrade { channel in
            http1.setup(channel: channel, logger: logger)
        } http2ConnectionInitializer: { channel in
            http2.setup(channel: channel, logger: logger)
        }
        .map { Value(negotiated: $0, channel: channel) }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2.handle(value: connection, logger: logger)
            }
        } catch {
            logger.debug("protocol negotiation failed", metadata: ["error": "\(error)"])
        }
    }
}
