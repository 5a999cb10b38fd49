import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
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

    /// Clients of the gateway that leave together reset their streams together, while the agent
    /// is still sending their answers. Every late frame must be ignored, not only those of the
    /// last 32 streams reset (NIOHTTP2's default): the 33rd was a protocol error that closed the
    /// session under every other user of the cluster.
    @Test func lateFramesOfManyStreamsResetAtOnceAreIgnored() throws {
        let (gateway, agent) = try Self.connectedPair()
        // Without stream channels nobody opens the connection's receive window: do it here.
        gateway.writeAndFlush(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: 16 << 20)), promise: nil)
        let streams = (0..<100).map { HTTP2StreamID(2 * $0 + 1) }
        for id in streams { gateway.writeAndFlush(Self.request(on: id), promise: nil) }
        try Self.shuttle(gateway, agent)
        for id in streams {
            agent.writeAndFlush(HTTP2Frame(streamID: id, payload: .headers(.init(headers: [":status": "200"]))), promise: nil)
            agent.writeAndFlush(Self.data(on: id), promise: nil)
        }
        try Self.shuttle(gateway, agent)
        // All hundred clients leave in one go; the agent sends more before it hears of it.
        for id in streams { gateway.writeAndFlush(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)), promise: nil) }
        for id in streams { agent.writeAndFlush(Self.data(on: id), promise: nil) }
        #expect(try Self.move(from: agent, to: gateway).filter { $0 == Self.dataFrame }.count == streams.count)
        #expect(!(try Self.shuttle(gateway, agent)).contains(Self.goAwayFrame), "the gateway ended the session over late frames")
        #expect(gateway.isActive && agent.isActive)
    }

    /// RST_STREAM is how the gateway cancels a request whose client left; NIOHTTP2's guard against
    /// rapid-reset floods (200 per 30 s) closed the tunnel on a busy cluster's own cancellations.
    @Test func theAgentTakesAThousandCancellationsInASecond() throws {
        let (gateway, agent) = try Self.connectedPair()
        var next = 1
        for _ in 0..<6 {
            let streams = (0..<100).map { _ in defer { next += 2 }; return HTTP2StreamID(next) }
            for id in streams { gateway.writeAndFlush(Self.request(on: id), promise: nil) }
            try Self.shuttle(gateway, agent)
            for id in streams { gateway.writeAndFlush(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)), promise: nil) }
            try Self.move(from: gateway, to: agent)
            #expect(!(try Self.shuttle(gateway, agent)).contains(Self.goAwayFrame), "the agent ended the session after \(next / 2) cancellations")
        }
        #expect(agent.isActive && gateway.isActive)
    }

    // MARK: Two HTTP/2 ends with the tunnel's settings, joined in memory

    static func connectedPair() throws -> (gateway: EmbeddedChannel, agent: EmbeddedChannel) {
        func end(_ mode: NIOHTTP2Handler.ParserMode) throws -> EmbeddedChannel {
            let configuration = TunnelProtocol.http2Configuration(for: mode)
            let channel = EmbeddedChannel(handler: NIOHTTP2Handler(mode: mode, frameDelegate: nil, connectionConfiguration: configuration.connection,
                                                                   streamConfiguration: configuration.stream))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            return channel
        }
        let (gateway, agent) = (try end(.client), try end(.server))
        try shuttle(gateway, agent)
        return (gateway, agent)
    }

    static func request(on id: HTTP2StreamID) -> HTTP2Frame {
        let headers: HPACKHeaders = [":method": "GET", ":scheme": "https", ":authority": "apiserver", ":path": "/api/v1/pods"]
        return HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: true)))
    }

    static func data(on id: HTTP2StreamID) -> HTTP2Frame {
        HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(ByteBuffer(repeating: 0x61, count: 1024)))))
    }

    /// Moves what `sender` wrote to `receiver` (whose decoded frames are dropped: these tests watch
    /// the connection); returns the types of the frames moved.
    @discardableResult
    static func move(from sender: EmbeddedChannel, to receiver: EmbeddedChannel) throws -> [UInt8] {
        var bytes = ByteBuffer()
        while let data = try sender.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { bytes.writeImmutableBuffer(buffer) }
        }
        guard bytes.readableBytes > 0 else { return [] }
        var types: [UInt8] = []
        var frames = bytes
        if frames.readableBytesView.starts(with: "PRI * HTTP/2.0".utf8) { frames.moveReaderIndex(forwardBy: 24) }
        while frames.readableBytes >= 9, let length = frames.getInteger(at: frames.readerIndex, as: UInt32.self).map({ Int($0 >> 8) }),
              let type = frames.getInteger(at: frames.readerIndex + 3, as: UInt8.self) {
            types.append(type)
            frames.moveReaderIndex(forwardBy: min(9 + length, frames.readableBytes))
        }
        try receiver.writeInbound(bytes)
        while try receiver.readInbound(as: HTTP2Frame.self) != nil {}
        return types
    }

    /// Moves bytes both ways until neither end has anything more to send; returns the frame types.
    @discardableResult
    static func shuttle(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws -> [UInt8] {
        var types: [UInt8] = []
        for _ in 0..<100 {
            let moved = try move(from: a, to: b) + (try move(from: b, to: a))
            if moved.isEmpty { break }
            types += moved
        }
        return types
    }

    static let dataFrame: UInt8 = 0x0
    static let goAwayFrame: UInt8 = 0x7
}
