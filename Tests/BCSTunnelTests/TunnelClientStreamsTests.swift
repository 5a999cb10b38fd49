import BCSKube
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import Testing

@testable import BCSTunnel

/// The gateway's end of a tunnel numbers every stream itself: relay streams (served from the
/// frames) and the multiplexer's stream channels share one wire numbering, translated both ways.
@Suite("tunnel client streams")
struct TunnelClientStreamsTests {
    @Test func relayAndMultiplexerStreamsShareOneIncreasingNumbering() throws {
        let (channel, streams) = try Self.connected()
        let first = Recorder()
        let firstID = try #require(streams.openRelay(headers: Self.get, receiver: NIOLoopBound(TunnelAnswerRelay(receiver: first), eventLoop: channel.eventLoop)))
        #expect(firstID == 1)
        #expect(try Self.written(channel).streamID == 1)

        // The multiplexer counts on its own (its first stream is 1 too): it goes out as 3.
        try channel.writeOutbound(HTTP2Frame(streamID: 1, payload: .headers(.init(headers: Self.get, endStream: false))))
        #expect(try Self.written(channel).streamID == 3)
        try channel.writeOutbound(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(ByteBuffer(string: "body")), endStream: true))))
        #expect(try Self.written(channel).streamID == 3)

        let secondID = try #require(streams.openRelay(headers: Self.get, receiver: NIOLoopBound(TunnelAnswerRelay(receiver: Recorder()), eventLoop: channel.eventLoop)))
        #expect(secondID == 5)
        _ = try Self.written(channel)

        // The agent's answer on 3 reaches the multiplexer as its stream 1, events included.
        try channel.writeInbound(HTTP2Frame(streamID: 3, payload: .headers(.init(headers: [":status": "201"], endStream: true))))
        #expect(try channel.readInbound(as: HTTP2Frame.self)?.streamID == 1)
        channel.pipeline.fireUserInboundEventTriggered(StreamClosedEvent(streamID: 3, reason: nil))

        // The answer on 1 goes to the relay's receiver, not up the pipeline.
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .headers(.init(headers: [":status": "200", "content-type": "application/json"]))))
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .data(.init(data: .byteBuffer(ByteBuffer(string: "{}")), endStream: true))))
        channel.pipeline.fireChannelReadComplete()
        #expect(try channel.readInbound(as: HTTP2Frame.self) == nil)
        #expect(first.events == ["head 200", "body 2", "end"])

        // A late frame of the multiplexer's closed stream, and one of a stream nobody opened, go nowhere.
        try channel.writeInbound(HTTP2Frame(streamID: 3, payload: .windowUpdate(windowSizeIncrement: 10)))
        try channel.writeInbound(HTTP2Frame(streamID: 99, payload: .data(.init(data: .byteBuffer(ByteBuffer(string: "x"))))))
        #expect(try channel.readInbound(as: HTTP2Frame.self) == nil)
        // Nor can the multiplexer write on its closed stream again (only a HEADERS opens one).
        #expect(throws: (any Error).self) { try channel.writeOutbound(HTTP2Frame(streamID: 1, payload: .rstStream(.cancel))) }
        #expect(channel.isActive)
    }

    @Test func theAgentsWindowIsCreditedAsTheReceiverTakesTheAnswer() throws {
        let (channel, streams) = try Self.connected()
        let recorder = Recorder()
        let relay = NIOLoopBound(TunnelAnswerRelay(receiver: recorder), eventLoop: channel.eventLoop)
        let id = try #require(streams.openRelay(headers: Self.get, receiver: relay))
        _ = try Self.written(channel)
        let stream = TunnelRelayStream(streams: NIOLoopBound(streams, eventLoop: channel.eventLoop), id: NIOLoopBoundBox(id, eventLoop: channel.eventLoop), relay: relay)

        try channel.writeInbound(HTTP2Frame(streamID: id, payload: .headers(.init(headers: [":status": "200"]))))
        let chunk = ByteBuffer(repeating: 0x61, count: 64 << 10)
        for _ in 0..<4 { try channel.writeInbound(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(chunk))))) }
        channel.pipeline.fireChannelReadComplete()
        stream.read()
        #expect(try channel.readOutbound(as: HTTP2Frame.self) == nil, "256 KiB taken: not yet worth a WINDOW_UPDATE")

        for _ in 0..<4 { try channel.writeInbound(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(chunk))))) }
        channel.pipeline.fireChannelReadComplete()
        stream.read()
        let update = try Self.written(channel)
        guard case .windowUpdate(let increment) = update.payload else {
            Issue.record("expected a WINDOW_UPDATE, got \(update)")
            return
        }
        #expect(update.streamID == id && increment == 512 << 10)

        // The receiver leaves: the stream is reset, and nothing more reaches it.
        stream.abandon()
        guard case .rstStream(.cancel) = try Self.written(channel).payload else {
            Issue.record("expected RST_STREAM")
            return
        }
        try channel.writeInbound(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(chunk), endStream: true))))
        channel.pipeline.fireChannelReadComplete()
        #expect(recorder.events.filter { $0 == "end" || $0 == "closed" }.isEmpty)
    }

    @Test func relayStreamsHearTheConnectionClose() throws {
        let (channel, streams) = try Self.connected()
        let recorder = Recorder()
        _ = try #require(streams.openRelay(headers: Self.get, receiver: NIOLoopBound(TunnelAnswerRelay(receiver: recorder), eventLoop: channel.eventLoop)))
        try channel.close().wait()
        #expect(recorder.events == ["closed"])
        #expect(streams.openRelay(headers: Self.get, receiver: NIOLoopBound(TunnelAnswerRelay(receiver: Recorder()), eventLoop: channel.eventLoop)) == nil)
    }

    // MARK: Helpers

    static let get: HPACKHeaders = [":method": "GET", ":scheme": "https", ":path": "/api", ":authority": "kubernetes"]

    static func connected() throws -> (EmbeddedChannel, TunnelClientStreams) {
        let channel = EmbeddedChannel()
        let streams = TunnelClientStreams(stats: TunnelStatsBox())
        try channel.pipeline.syncOperations.addHandler(streams)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, streams)
    }

    static func written(_ channel: EmbeddedChannel) throws -> HTTP2Frame {
        try #require(try channel.readOutbound(as: HTTP2Frame.self))
    }

    /// What a receiver heard, in order.
    final class Recorder: UpstreamResponseReceiver {
        var events: [String] = []
        func upstreamHead(_ head: HTTPResponseHead) { events.append("head \(head.status.code)") }
        func upstreamBody(_ body: ByteBuffer) { events.append("body \(body.readableBytes)") }
        func upstreamEnd() { events.append("end") }
        func upstreamReadComplete() {}
        func upstreamClosed() { events.append("closed") }
    }
}
