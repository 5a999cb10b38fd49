@testable import BCSKube
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The watch answer's decoding on the event loop, on its own: lines across reads, batches, limits,
/// refusals and endings.
@Suite struct WatchLineDecoderTests {
    static let added = #"{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}"#
    static let bookmark = #"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#

    func channel(maximumLineBytes: Int = 1 << 20) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WatchLineDecoder(maximumLineBytes: maximumLineBytes, deadline: .seconds(3600)))
        return channel
    }

    func read(_ channel: EmbeddedChannel) throws -> [WatchChunk] {
        var chunks: [WatchChunk] = []
        while let chunk = try channel.readInbound(as: WatchChunk.self) { chunks.append(chunk) }
        return chunks
    }

    func events(_ chunks: [WatchChunk]) -> [KubeWatchEvent] {
        chunks.flatMap { chunk -> [KubeWatchEvent] in
            if case .events(let events) = chunk { return events }
            return []
        }
    }

    @Test func linesSplitAcrossReadsArriveWholeAndInOneBatch() throws {
        let channel = try channel()
        try channel.writeInbound(HTTPClientResponsePart.head(.init(version: .http1_1, status: .ok)))
        guard case .opened? = try read(channel).first else { Issue.record("no opened"); return }
        let text = Self.added + "\n" + Self.bookmark + "\n\n" + Self.added
        let middle = text.index(text.startIndex, offsetBy: 30)
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: String(text[..<middle]))))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: String(text[middle...]) + "\n")))
        channel.pipeline.fireChannelReadComplete()
        #expect(try read(channel).isEmpty, "a batch waits up to 5 ms for more")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(5))
        let chunks = try read(channel)
        #expect(chunks.count == 1, "one hand-off for the whole batch")
        let got = events(chunks)
        #expect(got.count == 3)
        #expect(got[1] == .bookmark(resourceVersion: "9"))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        #expect(!channel.isActive, "the response's end closes the connection")
    }

    @Test func aGoneAnswerBecomesAnAPIErrorWith410() throws {
        let channel = try channel()
        try channel.writeInbound(HTTPClientResponsePart.head(.init(version: .http1_1, status: .gone)))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: #"{"kind":"Status","reason":"Expired","message":"too old resource version"}"#)))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        let chunks = try read(channel)
        guard case .failed(let error)? = chunks.last, let api = error as? KubeAPIError else { Issue.record("\(chunks)"); return }
        #expect(api.isGone && api.reason == "Expired" && api.message == "too old resource version")
    }

    @Test func aLineOverTheLimitEndsTheWatch() throws {
        let channel = try channel(maximumLineBytes: 64)
        try channel.writeInbound(HTTPClientResponsePart.head(.init(version: .http1_1, status: .ok)))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: String(repeating: "x", count: 100))))
        let chunks = try read(channel)
        guard case .failed(let error)? = chunks.last, let api = error as? KubeAPIError else { Issue.record("\(chunks)"); return }
        #expect(api.reason == "LineTooLong")
        #expect(!channel.isActive)
    }

    @Test func eventsBeforeABrokenConnectionAreDeliveredThenTheError() throws {
        let channel = try channel()
        try channel.writeInbound(HTTPClientResponsePart.head(.init(version: .http1_1, status: .ok)))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: Self.added + "\n")))
        channel.pipeline.fireChannelInactive()
        let chunks = try read(channel)
        #expect(events(chunks).count == 1)
        guard case .failed(let error)? = chunks.last else { Issue.record("\(chunks)"); return }
        #expect(error is KubeWatchTransportError)
    }

    @Test func notJSONEndsTheWatchWithTheReason() throws {
        let channel = try channel()
        try channel.writeInbound(HTTPClientResponsePart.head(.init(version: .http1_1, status: .ok)))
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: "this is not json\n")))
        guard case .failed(let error)? = try read(channel).last, let api = error as? KubeAPIError else { Issue.record("no failure"); return }
        #expect(api.reason == "BadWatchEvent")
    }
}
