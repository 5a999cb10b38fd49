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
/// WebSocket upgrade gets 400, which makes kubectl retry over SPDY; a refused SPDY upgrade falls
/// through to the ordinary responder, which answers with a `Status`.
struct KubeSimChannel: ServerChildChannel, HTTPChannelHandler {
    typealias WebSocketDecision = @Sendable (HTTPRequestHead) async -> ShouldUpgradeResult<WebSocketDataHandler<Context>>
    /// The 101's extra headers and the session to run, or nil to refuse.
    typealias SPDYDecision = @Sendable (HTTPRequestHead) async -> (HTTPHeaders, SPDYSession)?
    typealias SPDYSession = @Sendable (SPDYConnection, AsyncStream<SPDYConnection.Stream>) async -> Void

    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketDataHandler<Context>)
        case spdy(NIOAsyncChannel<ByteBuffer, ByteBuffer>, SPDYSession)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

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
            let upgradeAttempted = NIOLockedValueBox(false)
            let chosen = NIOLockedValueBox<WebSocketDataHandler<Context>?>(nil)
            let webSocket = self.webSocket
            let webSocketUpgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    upgradeAttempted.withLockedValue { $0 = true }
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        switch await webSocket(head) {
                        case .dontUpgrade:
                            return nil
                        case .upgrade(let fields, let handler):
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
                upgraders: [webSocketUpgrader, SPDYUpgrader(decide: spdy)],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return upgradeAttempted.withLockedValue { $0 } ? .failedUpgrade(asyncChannel) : .notUpgraded(asyncChannel)
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
            case .failedUpgrade(let http1):
                try await http1.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])), .end(nil),
                    ])
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
    private let chosen = NIOLockedValueBox<KubeSimChannel.SPDYSession?>(nil)
    let supportedProtocol = "SPDY/3.1"
    let requiredUpgradeHeaders: [String] = []

    init(decide: @escaping KubeSimChannel.SPDYDecision) { self.decide = decide }

    struct Refused: Error {}

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders.self)
        let decide = self.decide
        let chosen = self.chosen
        promise.completeWithTask {
            guard let (headers, session) = await decide(upgradeRequest) else { throw Refused() }
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
