import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import BCSTunnel

/// The agent's reader of the apiserver's answer to an upgrade: byte-exact, nothing after the 101 lost.
@Suite struct UpgradeResponseReaderTests {
    func reader() throws -> (EmbeddedChannel, UpgradeResponseReader, EventLoopFuture<UpgradeResponseReader.Outcome>) {
        let channel = EmbeddedChannel()
        let promise = channel.eventLoop.makePromise(of: UpgradeResponseReader.Outcome.self)
        let reader = UpgradeResponseReader(promise: promise)
        try channel.pipeline.syncOperations.addHandler(reader)
        return (channel, reader, promise.futureResult)
    }

    func fulfilled(_ future: EventLoopFuture<UpgradeResponseReader.Outcome>) -> Bool {
        let done = Flag()
        future.whenComplete { _ in done.set() }
        return done.value
    }

    @Test func bytesAfterThe101AndTheEndOfInputWaitForTheSplice() throws {
        let (channel, reader, outcome) = try reader()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n\u{1}hello"))
        try channel.writeInbound(ByteBuffer(string: " world"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        guard case .switched(let head) = try outcome.wait() else { Issue.record("not switched"); return }
        #expect(head.status == 101 && head.first("sec-websocket-protocol") == "v5.channel.k8s.io")
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "nothing passes before the hand-over")
        let context = try channel.pipeline.syncOperations.context(handler: reader)
        reader.handOver(context: context)
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "\u{1}hello world"))
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: UpgradeResponseReader.self) }
    }

    @Test func aRefusalIsReadToItsContentLength() throws {
        let (channel, _, outcome) = try reader()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"kind\":"))
        #expect(!fulfilled(outcome))
        try channel.writeInbound(ByteBuffer(string: "1}"))
        guard case .refused(let head, let body) = try outcome.wait() else { Issue.record("not refused"); return }
        #expect(head.status == 403 && head.first("content-type") == "application/json" && String(buffer: body) == "{\"kind\":1}")
    }

    @Test func aChunkedRefusalIsDecoded() throws {
        let (channel, _, outcome) = try reader()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"))
        guard case .refused(let head, let body) = try outcome.wait() else { Issue.record("not refused"); return }
        #expect(head.status == 400 && String(buffer: body) == "hello world")
    }

    @Test func aRefusalWithoutLengthEndsWithTheInput() throws {
        let (channel, _, outcome) = try reader()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nno upgrade"))
        #expect(!fulfilled(outcome))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        guard case .refused(_, let body) = try outcome.wait() else { Issue.record("not refused"); return }
        #expect(String(buffer: body) == "no upgrade")
    }

    @Test func requestTextDropsHeaderInjection() {
        let text = UpgradeResponseReader.requestText(method: "GET", path: "/api/v1/x", fields: [("Upgrade", "websocket"), ("X-Bad\r\nInjected", "1"), ("X-Value", "a\r\nb")])
        #expect(text == "GET /api/v1/x HTTP/1.1\r\nUpgrade: websocket\r\nX-Value: ab\r\n\r\n")
    }
}

final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var value: Bool { state.withLock { $0 } }
}
