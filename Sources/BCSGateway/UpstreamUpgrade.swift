import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One raw HTTP/1.1 connection to an apiserver for an upgrade request (exec, attach, port-forward).
///
/// AsyncHTTPClient treats `101 Switching Protocols` as a final response and closes the connection,
/// so upgrades dial with NIO directly, on the event loop of the client's connection (the splice
/// that follows needs both channels on one loop). The apiserver's answer decides what happens:
/// a 101 hands back the channel for splicing; anything else comes back with its (bounded) body so
/// it reaches kubectl verbatim — its SPDY fallback depends on seeing the real status.
struct UpstreamUpgrade {
    enum Outcome {
        case switched(HTTPResponseHead, any Channel)
        case refused(HTTPResponseHead, ByteBuffer)
    }

    /// The largest non-101 body relayed; apiserver errors are small `Status` objects.
    static let maximumRefusalBody = 1 << 20

    /// Connects to `address` (an `https://host:port` URL), sends `head` and waits for the response head.
    static func open(
        address: String, tls: NIOSSLContext?, head: HTTPRequestHead, eventLoop: any EventLoop, connectTimeout: TimeAmount = .seconds(2)
    ) async throws -> Outcome {
        guard let url = URLParts(address) else { throw UpstreamUpgradeError("\(address) is not an https://host:port address") }
        guard url.secure == (tls != nil) else { throw UpstreamUpgradeError("\(address): TLS \(url.secure ? "required" : "not expected") for this address") }
        var head = head
        head.headers.replaceOrAdd(name: "Host", value: url.hostHeader)
        let sendHead = head
        let result = eventLoop.makePromise(of: Outcome.self)
        let channel = try await ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try url.tlsHandler(tls)) }
                    try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
                    try channel.pipeline.syncOperations.addHandler(UpgradeAnswerSniffer(result: result))
                }
            }
            .connect(host: url.host, port: url.port).get()
        channel.write(HTTPClientRequestPart.head(sendHead), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await result.futureResult.get()
    }

    /// Puts the splice handler behind an upstream channel whose answer was 101 and hands it the
    /// bytes (and any close) that arrived since; call on the channel's event loop.
    static func attach(_ splice: some ChannelHandler, to channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        let sniffer = try pipeline.handler(type: UpgradeAnswerSniffer.self)
        try pipeline.addHandler(splice)
        sniffer.release()
    }
}

/// Why an upgrade could not reach the apiserver.
struct UpstreamUpgradeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Host, port and `Host` header of an `https://host:port` apiserver address.
struct URLParts {
    let host: String
    let port: Int
    let hostHeader: String
    /// `https` (the apiserver, a peer over TLS) rather than `http` (a peer on a trusted network).
    let secure: Bool
    /// Nothing after `host:port` but an optional `/`: requests go to the path as it came.
    let hasNoPath: Bool

    init?(_ address: String) {
        guard let components = URLComponentsLite(address) else { return nil }
        hasNoPath = components.path.isEmpty || components.path == "/"
        host = components.host
        secure = components.secure
        port = components.port ?? (components.secure ? 443 : 80)
        hostHeader = components.port.map { "\(components.hostForHeader):\($0)" } ?? components.hostForHeader
    }

    var isIPAddress: Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }

    /// The TLS client handler for this address: SNI and name check by host name, or by the
    /// connected IP when the address is one (SNI cannot carry an IP).
    func tlsHandler(_ context: NIOSSLContext) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: isIPAddress ? nil : host)
    }
}

/// Just enough URL parsing for `https://host[:port][/]` (or `http://`), with IPv6 literals in brackets.
struct URLComponentsLite {
    let host: String
    let hostForHeader: String
    let port: Int?
    let secure: Bool
    /// What follows `host[:port]`, from its `/` (empty when nothing does).
    let path: Substring

    init?(_ address: String) {
        let lower = address.lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://") else { return nil }
        secure = lower.hasPrefix("https://")
        var rest = address.dropFirst(secure ? "https://".count : "http://".count)
        if let slash = rest.firstIndex(of: "/") {
            path = rest[slash...]
            rest = rest[..<slash]
        } else {
            path = ""
        }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            hostForHeader = "[\(host)]"
            let after = rest[rest.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) : nil
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            hostForHeader = host
            guard let parsed = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = parsed
        } else {
            host = String(rest)
            hostForHeader = host
            port = nil
        }
        guard !host.isEmpty else { return nil }
    }
}

/// Reads the apiserver's answer to an upgrade request from the raw bytes.
///
/// NIO's HTTP decoder cannot be used for the 101: its removal is deferred to a later event-loop
/// tick, and when the apiserver closes at once (an `exit 3` exec sends its status and closes) it
/// sees the EOF first and drops the bytes that followed the head. So the head is parsed here; on
/// 101 the bytes after it, and any close, are held until the splice is attached (`release`); any
/// other answer is replayed into an HTTP decoder so the refusal and its body are relayed.
final class UpgradeAnswerSniffer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer

    /// An apiserver's response head is small; anything larger is refused.
    static let maximumHead = 64 << 10

    private enum State {
        case readingHead(ByteBuffer)
        case holding
        case passing
    }

    private let result: EventLoopPromise<UpstreamUpgrade.Outcome>
    private var state: State = .readingHead(ByteBuffer())
    private var held: [ByteBuffer] = []
    private var inputClosed = false
    private var inactive = false
    private var pendingRead = false
    private var context: ChannelHandlerContext?

    init(result: EventLoopPromise<UpstreamUpgrade.Outcome>) { self.result = result }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        switch state {
        case .passing:
            context.fireChannelRead(data)
        case .holding:
            held.append(buffer)
        case .readingHead(var collected):
            collected.writeBuffer(&buffer)
            guard let end = collected.readableBytesView.firstRange(of: [13, 10, 13, 10]) else {
                if collected.readableBytes > Self.maximumHead {
                    fail(context: context, UpstreamUpgradeError("the apiserver's response head exceeds \(Self.maximumHead) bytes"))
                } else {
                    state = .readingHead(collected)
                }
                return
            }
            let headLength = end.upperBound - collected.readerIndex
            guard let headText = collected.getString(at: collected.readerIndex, length: headLength), let head = Self.parse(headText) else {
                fail(context: context, UpstreamUpgradeError("the apiserver sent an unreadable response head"))
                return
            }
            if head.status == .switchingProtocols {
                collected.moveReaderIndex(forwardBy: headLength)
                if collected.readableBytes > 0 { held.append(collected) }
                state = .holding
                let pipeline = context.pipeline.syncOperations
                if let encoder = try? pipeline.handler(type: HTTPRequestEncoder.self) { pipeline.removeHandler(encoder, promise: nil) }
                result.succeed(.switched(head, context.channel))
            } else {
                // Not switching: an HTTP decoder takes the whole answer from the start.
                state = .passing
                do {
                    try context.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder()), position: .after(self))
                    try context.pipeline.syncOperations.addHandler(UpgradeRefusalCapture(result: result))
                    context.fireChannelRead(wrapInboundOut(collected))
                } catch {
                    fail(context: context, error)
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .passing = state { context.fireChannelReadComplete() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .holding = state, let event = event as? ChannelEvent, case .inputClosed = event {
            inputClosed = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .holding: inactive = true
        case .passing: context.fireChannelInactive()
        case .readingHead:
            result.fail(UpstreamUpgradeError("the apiserver closed the connection before answering"))
            context.fireChannelInactive()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .readingHead = state { fail(context: context, error) } else { context.fireErrorCaught(error) }
    }

    func read(context: ChannelHandlerContext) {
        if case .holding = state { pendingRead = true } else { context.read() }
    }

    /// Replays what was held to the handler added behind this one, and leaves the pipeline.
    func release() {
        guard let context, case .holding = state else { return }
        state = .passing
        for buffer in held { context.fireChannelRead(wrapInboundOut(buffer)) }
        if !held.isEmpty { context.fireChannelReadComplete() }
        held = []
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        if inactive { context.fireChannelInactive() }
        if pendingRead { context.read() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        state = .passing
        result.fail(error)
        context.close(promise: nil)
    }

    /// `HTTP/1.1 101 Switching Protocols` and its header lines.
    static func parse(_ text: String) -> HTTPResponseHead? {
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { return nil }
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let code = Int(statusLine[1]) else { return nil }
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.add(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let version: HTTPVersion = statusLine[0] == "HTTP/1.0" ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: .init(statusCode: code), headers: headers)
    }
}

/// Collects a non-101 answer (head and a bounded body) so it reaches kubectl as it came.
final class UpgradeRefusalCapture: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let result: EventLoopPromise<UpstreamUpgrade.Outcome>
    private var refusal: (HTTPResponseHead, ByteBuffer)?
    private var done = false

    init(result: EventLoopPromise<UpstreamUpgrade.Outcome>) { self.result = result }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            refusal = (head, context.channel.allocator.buffer(capacity: 0))
        case .body(var chunk):
            guard let (head, previous) = refusal else { return }
            var body = previous
            if body.readableBytes + chunk.readableBytes <= UpstreamUpgrade.maximumRefusalBody { body.writeBuffer(&chunk) }
            refusal = (head, body)
        case .end:
            guard let (head, body) = refusal else { return }
            done = true
            result.succeed(.refused(head, body))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            result.fail(UpstreamUpgradeError("the apiserver closed the connection in the middle of its answer"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            result.fail(error)
        }
        context.close(promise: nil)
    }
}
