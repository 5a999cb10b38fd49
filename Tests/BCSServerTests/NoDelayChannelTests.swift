import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import BCSServer

/// Accepted connections have Nagle's algorithm off, as set up by the server's front channel.
@Suite("server: TCP_NODELAY on accepted connections")
struct NoDelayChannelTests {
    /// A server channel that sets nothing up itself.
    struct BareChannel: HTTPChannelHandler {
        struct Value: ServerChildChannelValue {
            let channel: any Channel
        }

        var responder: Responder { { _, _, _ in } }
        func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> { channel.eventLoop.makeSucceededFuture(Value(channel: channel)) }
        func handle(value: Value, logger: Logger) async {}
    }

    @Test func anAcceptedConnectionSendsSmallWritesAtOnce() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let front = NoDelayChannel(base: BareChannel())
        let accepted = group.any().makePromise(of: Int.self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                front.setup(channel: channel, logger: Logger(label: "test")).flatMap { _ in
                    channel.getOption(ChannelOptions.tcpOption(.tcp_nodelay))
                }.map { accepted.succeed($0) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
        #expect(try await accepted.futureResult.get() != 0)
        try await client.close()
        try await server.close()
    }
}
