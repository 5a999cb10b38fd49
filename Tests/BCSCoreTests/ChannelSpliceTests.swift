import BCSCore
import NIOCore
import NIOEmbedded
import Testing

@Suite struct ChannelSpliceTests {
    @Test func bytesCrossBothWaysAndCloseTravels() throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        try client.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try upstream.connect(to: .init(ipAddress: "127.0.0.1", port: 2)).wait()
        nonisolated(unsafe) var counts: (Int, Int)?
        try ChannelSplice.join(client, upstream) { counts = ($0, $1) }

        try client.writeInbound(ByteBuffer(string: "stdin"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "stdin"))
        try upstream.writeInbound(ByteBuffer(string: "stdout!"))
        #expect(try client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "stdout!"))

        _ = try upstream.finish()
        #expect(!client.isActive)
        #expect(counts?.0 == 5)
        #expect(counts?.1 == 7)
    }
}
