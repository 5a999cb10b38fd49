import BCSCore
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@Suite struct ChannelSpliceTests {
    @Test func bytesCrossBothWaysHeldUntilStartAndCloseTravels() throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        try client.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try upstream.connect(to: .init(ipAddress: "127.0.0.1", port: 2)).wait()
        nonisolated(unsafe) var counts: (Int, Int)?
        let pair = ChannelSplice.Pair(client, upstream) { counts = ($0, $1) }
        try client.pipeline.syncOperations.addHandler(pair.makeFirst())
        try client.writeInbound(ByteBuffer(string: "early"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == nil, "nothing relayed before both halves are in place")
        try upstream.pipeline.syncOperations.addHandler(pair.makeSecond())
        pair.start()
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "early"))

        try client.writeInbound(ByteBuffer(string: "stdin"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "stdin"))
        try upstream.writeInbound(ByteBuffer(string: "stdout!"))
        #expect(try client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "stdout!"))

        _ = try upstream.finish()
        loop.run()
        #expect(!client.isActive)
        #expect(counts?.0 == 10)
        #expect(counts?.1 == 7)
    }

    /// Two TCP connections accepted on different event loops, spliced: what one peer sends the other receives.
    @Test func splicesAcrossEventLoops() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let accepted = AsyncStream.makeStream(of: (any Channel).self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.continuation.yield(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        // Two client connections on the two loops are spliced; their server-side peers talk through them.
        let loops = (group.next(), group.next())
        let first = try await ClientBootstrap(group: loops.0).channelOption(ChannelOptions.autoRead, value: true).connect(host: "127.0.0.1", port: port).get()
        var iterator = accepted.stream.makeAsyncIterator()
        let firstPeer = try #require(await iterator.next())
        let second = try await ClientBootstrap(group: loops.1).connect(host: "127.0.0.1", port: port).get()
        let secondPeer = try #require(await iterator.next())
        #expect(first.eventLoop !== second.eventLoop)
        try await ChannelSplice.join(first, second)

        let received = AsyncStream.makeStream(of: ByteBuffer.self)
        try await secondPeer.eventLoop.submit {
            try secondPeer.pipeline.syncOperations.addHandler(Collector(continuation: received.continuation))
        }.get()
        try await firstPeer.writeAndFlush(ByteBuffer(string: "across loops")).get()
        var got = ""
        for await chunk in received.stream {
            got += String(buffer: chunk)
            if got.count >= 12 { break }
        }
        #expect(got == "across loops")
        try await firstPeer.close()
        try await second.closeFuture.get()
        try await server.close()
        try await group.shutdownGracefully()
    }
}

private final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<ByteBuffer>.Continuation
    init(continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
}
