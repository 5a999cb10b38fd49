import NIOCore
import NIOPosix
import NIOSSL

/// An "apiserver" over TLS whose every answer has neither a length nor chunks: its body ends when
/// it closes the connection (HTTP/1.1 allows it; a relay must then close its client's too).
struct CloseDelimitedUpstream {
    static let body = "a body that ends with the connection"
    let port: Int
    let caPEM: String
    let channel: any Channel

    static func start() async throws -> CloseDelimitedUpstream {
        let (pem, configuration) = try await FakeAPIServer.makeCertificate()
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try child.pipeline.syncOperations.addHandler(Answer())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return CloseDelimitedUpstream(port: channel.localAddress!.port!, caPEM: pem, channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    /// Answers once the request head has arrived, then closes.
    private final class Answer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var received = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            guard received.contains("\r\n\r\n") else { return }
            let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + CloseDelimitedUpstream.body
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}
