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
        address: String, tls: NIOSSLContext, head: HTTPRequestHead, eventLoop: any EventLoop, connectTimeout: TimeAmount = .seconds(2)
    ) async throws -> Outcome {
        guard let url = URLParts(address) else { throw UpstreamUpgradeError("\(address) is not an https://host:port address") }
        var head = head
        head.headers.replaceOrAdd(name: "Host", value: url.hostHeader)
        let sendHead = head
        let result = eventLoop.makePromise(of: Outcome.self)
        let channel = try await ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sni = url.isIPAddress ? nil : url.host
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: sni))
                    try channel.pipeline.syncOperations.addHandler(HTTPRequestEncoder())
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)))
                    try channel.pipeline.syncOperations.addHandler(UpgradeAnswerCapture(result: result))
                }
            }
            .connect(host: url.host, port: url.port).get()
        channel.write(HTTPClientRequestPart.head(sendHead), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await result.futureResult.get()
    }

    /// Takes the HTTP/1 codecs off an upstream channel whose answer was 101; call on its event loop
    /// after the splice handler has been added behind them (left-over bytes are forwarded to it).
    static func removeCodecs(from channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        pipeline.removeHandler(try pipeline.handler(type: UpgradeAnswerCapture.self), promise: nil)
        pipeline.removeHandler(try pipeline.handler(type: HTTPRequestEncoder.self), promise: nil)
        pipeline.removeHandler(try pipeline.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: nil)
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

    init?(_ address: String) {
        guard let components = URLComponentsLite(address) else { return nil }
        host = components.host
        port = components.port ?? 443
        hostHeader = components.port.map { "\(components.hostForHeader):\($0)" } ?? components.hostForHeader
    }

    var isIPAddress: Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }
}

/// Just enough URL parsing for `https://host[:port][/]`, with IPv6 literals in brackets.
struct URLComponentsLite {
    let host: String
    let hostForHeader: String
    let port: Int?

    init?(_ address: String) {
        guard address.lowercased().hasPrefix("https://") else { return nil }
        var rest = address.dropFirst("https://".count)
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
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

/// Completes with the apiserver's answer to an upgrade request: the 101 head, or a refusal and its body.
final class UpgradeAnswerCapture: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let result: EventLoopPromise<UpstreamUpgrade.Outcome>
    private var refusal: (HTTPResponseHead, ByteBuffer)?
    private var done = false

    init(result: EventLoopPromise<UpstreamUpgrade.Outcome>) { self.result = result }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head) where head.status == .switchingProtocols:
            done = true
            result.succeed(.switched(head, context.channel))
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
            result.fail(UpstreamUpgradeError("the apiserver closed the connection before answering"))
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
