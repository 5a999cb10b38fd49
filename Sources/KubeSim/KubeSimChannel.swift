import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// HTTP/1.1 with the two upgrades kubectl's streaming commands use: WebSocket and SPDY/3.1.
///
/// Hummingbird's own WebSocket channel offers one upgrader; kubectl falls back from WebSocket to
/// SPDY (`Upgrade: SPDY/3.1`) for exec before 1.30 and for port-forward before 1.31
/// (kubectl-wire.md §5–§7), so this channel installs both in NIO's upgrade handler. A refused
/// upgrade of either kind is answered with the decision's `Status` and the connection closed:
/// NIO's upgrade handler has consumed the request head by then, so the ordinary responder never
/// sees it. Any non-101 makes kubectl retry a WebSocket attempt over SPDY.
struct KubeSimChannel: ServerChildChannel, HTTPChannelHandler {
    /// The 101's extra headers and the WebSocket handler, or the `Status` refusing the upgrade.
    typealias WebSocketDecision = @Sendable (HTTPRequestHead) async -> Result<(HTTPFields, WebSocketDataHandler<Context>), KubeStatus>
    /// The 101's extra headers and the session to run, or the `Status` refusing the upgrade.
    typealias SPDYDecision = @Sendable (HTTPRequestHead) async -> Result<(HTTPHeaders, SPDYSession), KubeStatus>
    /// What runs over an accepted SPDY connection: the connection to write to and the streams the client opens.
    typealias SPDYSession = @Sendable (SPDYConnection, AsyncStream<SPDYConnection.Stream>) async -> Void

    /// How the first request of a connection ended up: upgraded, plain HTTP, or a refused upgrade to answer.
    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketDataHandler<Context>)
        case spdy(NIOAsyncChannel<ByteBuffer, ByteBuffer>, SPDYSession)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, KubeStatus)
    }

    /// The connection once set up; the upgrade result arrives after the first request head.
    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    /// What a WebSocket handler gets besides its streams: only the connection's logger.
    struct Context: WebSocketContext {
        let logger: Logger
    }

    let responder: HTTPChannelHandler.Responder
    let maxFrameSize: Int
    let webSocket: WebSocketDecision
    let spdy: SPDYDecision

    init(responder: @escaping HTTPChannelHandler.Responder, maxFrameSize: Int = 1 << 20, webSocket: @escaping WebSocketDecision, spdy: @escaping SPDYDecision) {
        self.responder = responder
        self.maxFrameSize = maxFrameSize
        self.webSocket = webSocket
        self.spdy = spdy
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let refusal = NIOLockedValueBox<KubeStatus?>(nil)
            let chosen = NIOLockedValueBox<WebSocketDataHandler<Context>?>(nil)
            let webSocket = self.webSocket
            let webSocketUpgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        switch await webSocket(head) {
                        case .failure(let status):
                            refusal.withLockedValue { $0 = status }
                            return nil
                        case .success(let (fields, handler)):
                            chosen.withLockedValue { $0 = handler }
                            return HTTPHeaders(fields.map { ($0.name.rawName, $0.value) })
                        }
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let asyncChannel = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        guard let handler = chosen.withLockedValue({ $0 }) else { preconditionFailure("upgraded without a handler") }
                        return UpgradeResult.websocket(asyncChannel, handler)
                    }
                }
            )
            let configuration = NIOTypedHTTPServerUpgradeConfiguration<UpgradeResult>(
                upgraders: [webSocketUpgrader, SPDYUpgrader(decide: spdy, refusal: refusal)],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let status = refusal.withLockedValue({ $0 }) { return .failedUpgrade(asyncChannel, status) }
                        return .notUpgraded(asyncChannel)
                    }
                }
            )
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: configuration)
            pipeline.enablePipelining = false
            pipeline.enableErrorHandling = false
            pipeline.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .notUpgraded(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .failedUpgrade(let http1, let status):
                var body = ByteBuffer(string: JSONText.render(status.document))
                body.writeString("\n")
                let head = HTTPResponse(status: .init(code: status.code), headerFields: [
                    .connection: "close", .contentType: "application/json", .contentLength: String(body.readableBytes),
                ])
                try await http1.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
                }
            case .websocket(let asyncChannel, let handler):
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(extensions: [], autoPing: .disabled, validateUTF8: false, maxFrameSize: maxFrameSize),
                    asyncChannel: asyncChannel, context: Context(logger: logger), handler: handler)
            case .spdy(let asyncChannel, let session):
                try await asyncChannel.executeThenClose { inbound, outbound in
                    let (bytes, feed) = AsyncStream<ByteBuffer>.makeStream()
                    let pump = Task {
                        do { for try await chunk in inbound { feed.yield(chunk) } } catch {}
                        feed.finish()
                    }
                    await SPDYConnection.run(inbound: bytes, write: { try await outbound.write($0) }, hangUp: { pump.cancel() }, session: session)
                    pump.cancel()
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }
}

/// Accepts `Upgrade: SPDY/3.1` when the decision function offers a session for the request.
private struct SPDYUpgrader: NIOTypedHTTPServerProtocolUpgrader {
    typealias UpgradeResult = KubeSimChannel.UpgradeResult

    let decide: KubeSimChannel.SPDYDecision
    /// Where a refusal's `Status` goes, for the channel to answer with.
    let refusal: NIOLockedValueBox<KubeStatus?>
    private let chosen = NIOLockedValueBox<KubeSimChannel.SPDYSession?>(nil)
    let supportedProtocol = "SPDY/3.1"
    let requiredUpgradeHeaders: [String] = []

    init(decide: @escaping KubeSimChannel.SPDYDecision, refusal: NIOLockedValueBox<KubeStatus?>) {
        self.decide = decide
        self.refusal = refusal
    }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders.self)
        let decide = self.decide
        let chosen = self.chosen
        let refusal = self.refusal
        promise.completeWithTask {
            let (headers, session): (HTTPHeaders, KubeSimChannel.SPDYSession)
            switch await decide(upgradeRequest) {
            case .success(let accepted): (headers, session) = accepted
            case .failure(let status):
                refusal.withLockedValue { $0 = status }
                throw status
            }
            chosen.withLockedValue { $0 = session }
            var response = initialResponseHeaders
            response.add(contentsOf: headers)
            return response
        }
        return promise.futureResult
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            let asyncChannel = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel,
                                                                           configuration: .init(isOutboundHalfClosureEnabled: true))
            guard let session = chosen.withLockedValue({ $0 }) else { preconditionFailure("upgraded without a session") }
            return .spdy(asyncChannel, session)
        }
    }
}
