import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP2
import Testing

@testable import BCSTunnel

/// What the tunnel puts on the wire besides requests and answers, and what it does when the peer
/// gives up on the connection.
@Suite("tunnel frame hygiene")
struct TunnelFrameHygieneTests {
    /// A splice's empty "after what I wrote" write must not become an empty DATA frame: NIOHTTP2
    /// treats two in a row as an attack and ends the whole connection with GOAWAY.
    @Test func anEmptyWriteSendsNoFrameAndCompletesAfterTheWriteBeforeIt() throws {
        let channel = EmbeddedChannel()
        let handler = TunnelStreamHandler(eventLoop: channel.eventLoop, mode: .raw, headDecidesMode: false)
        try channel.pipeline.syncOperations.addHandler(handler)

        let alone = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ByteBuffer(), promise: alone)
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil, "no frame for an empty write")
        try alone.futureResult.wait()

        // The marker completes after the write before it (which its flush sends), never before.
        let data = channel.eventLoop.makePromise(of: Void.self)
        let marker = channel.eventLoop.makePromise(of: Void.self)
        let order = NIOLockedValueBox<[String]>([])
        data.futureResult.whenComplete { _ in order.withLockedValue { $0.append("data") } }
        marker.futureResult.whenComplete { _ in order.withLockedValue { $0.append("marker") } }
        channel.write(ByteBuffer(string: "stdin"), promise: data)
        channel.pipeline.write(ByteBuffer(), promise: marker)
        let frame = try #require(try channel.readOutbound(as: HTTP2Frame.FramePayload.self))
        guard case .data(let payload) = frame, case .byteBuffer(let bytes) = payload.data else {
            Issue.record("expected a DATA frame, got \(frame)")
            return
        }
        #expect(String(buffer: bytes) == "stdin" && !payload.endStream)
        #expect(try channel.readOutbound(as: HTTP2Frame.FramePayload.self) == nil, "still no frame for the marker")
        try marker.futureResult.wait()
        #expect(order.withLockedValue { $0 } == ["data", "marker"])
        _ = try channel.finish()
    }

    /// A peer's GOAWAY means no new stream will ever open here, though PINGs would still be
    /// answered: the connection is closed (the agent then dials a new one) instead of lingering.
    @Test func aGoAwayClosesTheConnection() throws {
        let channel = EmbeddedChannel()
        let liveness = TunnelLiveness(keepalive: .standard)
        try channel.pipeline.syncOperations.addHandler(TunnelPingHandler(liveness: liveness, stats: TunnelStatsBox(), logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(channel.isActive)
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .rootStream, errorCode: .enhanceYourCalm, opaqueData: nil)))
        #expect(!channel.isActive)
    }
}
