import AsyncHTTPClient
import BCSCore
import BCSKube
import Foundation
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The agent's half of each tunnel stream: the request goes to its own apiserver, the answer comes back.
///
/// Only the apiserver of the agent's kubeconfig or in-cluster config is ever dialled — a stream
/// names a path, never an address — so the agent is not an open forwarder (BCS's agent let the
/// server dial any TCP address). Requests carry the agent's current service-account token, read
/// from its file at most once per token period, so the token never leaves the cluster.
final class ApiserverForwarder: Sendable {
    let kube: KubeConnection
    let client: HTTPClient
    let sslContext: NIOSSLContext
    let tokens: TokenCache
    let logger: Logger
    /// What the streams served on their event loop (`ApiserverFastStreams`) need.
    let route: ApiserverRoute
    private let connections = UpstreamConnectionPools()

    init(kube: KubeConnection, tokenPeriod: Duration, responseTimeout: Duration = .seconds(120), logger: Logger) throws {
        self.kube = kube
        self.client = try kube.makeHTTPClient(maximumConnections: 64, failRefusedAtOnce: true)
        self.sslContext = try NIOSSLContext(configuration: kube.tlsConfiguration())
        self.tokens = TokenCache(kube: kube, period: tokenPeriod)
        self.logger = logger
        guard let url = URL(string: kube.server), let host = url.host else {
            throw AgentError.configuration("the apiserver address \(kube.server) is not a URL")
        }
        let secure = url.scheme?.lowercased() != "http"
        let port = url.port ?? (secure ? 443 : 80)
        let authority = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        var prefix = url.path
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.route = ApiserverRoute(host: host, port: port, authority: authority, pathPrefix: prefix, tls: secure ? sslContext : nil,
                                    tokens: tokens, connections: connections, logger: logger, server: kube.server,
                                    responseTimeout: .nanoseconds(Int64(responseTimeout / .nanoseconds(1))))
    }

    func shutdown() async {
        connections.closeIdle()
        try? await client.shutdown()
    }

    /// Serves one stream until it is done; cancelled when the stream or the session closes.
    func handle(_ stream: TunnelStream) async {
        let head: StreamHead
        do {
            head = try await stream.awaitHead()
        } catch {
            return
        }
        guard let request = TunnelHeaders.receivedRequest(head.headers) else {
            try? await respondError(stream, status: 400, message: "the tunnel request has no :method or :path")
            return
        }
        if let upgrade = request.upgrade {
            await forwardUpgrade(request, upgrade: upgrade, stream: stream)
        } else {
            await forwardPlain(request, hasBody: !head.endStream, stream: stream)
        }
    }

    // MARK: Plain requests

    func forwardPlain(_ request: TunnelHeaders.ReceivedRequest, hasBody: Bool, stream: TunnelStream) async {
        var outgoing = HTTPClientRequest(url: kube.server + request.path)
        outgoing.method = HTTPMethod(rawValue: request.method)
        var length: Int64?
        for (name, value) in request.fields {
            if name == "content-length" { length = Int64(value); continue }
            outgoing.headers.add(name: name, value: value)
        }
        do {
            if let token = try tokens.current() { outgoing.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)") }
        } catch {
            logger.error("agent: cannot read the service-account token", metadata: ["error": "\(error)"])
            try? await respondError(stream, status: 503, message: "the agent cannot read its service-account token: \(error)")
            return
        }
        if hasBody {
            let bodyLength: HTTPClientRequest.Body.Length = length.map { .known($0) } ?? .unknown
            outgoing.body = .stream(stream.body, length: bodyLength)
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outgoing, timeout: route.responseTimeout)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            try? await respondError(stream, status: 504, message: "the apiserver \(kube.server) did not answer within \(route.responseTimeout.nanoseconds / 1_000_000_000) s")
            return
        } catch {
            logger.warning("agent: apiserver request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            try? await respondError(stream, status: 502, message: "the agent cannot reach its apiserver \(kube.server): \(error)")
            return
        }
        do {
            let fields = response.headers.map { (name: $0.name, value: $0.value) }
            let block = TunnelHeaders.responseBlock(status: Int(response.status.code), fields: fields)
            if let length = response.headers.first(name: "content-length").flatMap(Int.init), length <= Self.wholeResponseLimit {
                // Small and of known size: one hop to the stream's loop and one flush for all of it.
                try await stream.writeWhole(block, body: try await response.body.collect(upTo: Self.wholeResponseLimit))
                return
            }
            try await stream.writeHeaders(block)
            try await stream.pump(response.body)
            try await stream.writeData(ByteBuffer(), endStream: true)
        } catch {
            stream.reset()
        }
    }

    /// Responses up to this size with a known length are read whole and sent with their head at once.
    static let wholeResponseLimit = 256 << 10

    /// A Kubernetes `Status` answer from the agent itself (the apiserver never saw the request).
    func respondError(_ stream: TunnelStream, status: Int, message: String) async throws {
        let (block, body) = Self.statusAnswer(status: status, message: message)
        try await stream.writeHeaders(block)
        try await stream.writeData(body, endStream: true)
    }

    /// The header block and body of a Kubernetes `Status` answer.
    static func statusAnswer(status: Int, message: String) -> (HPACKHeaders, ByteBuffer) {
        let reason = switch status {
        case 400: "BadRequest"
        case 503: "ServiceUnavailable"
        case 504: "Timeout"
        default: "BadGateway"
        }
        var body = #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"#
        JSONString.appendQuoted(message, to: &body)
        body += #","reason":"\#(reason)","code":\#(status)}"#
        let block = TunnelHeaders.responseBlock(status: status, fields: [("content-type", "application/json"), ("content-length", String(body.utf8.count))])
        return (block, ByteBuffer(string: body))
    }

    // MARK: Upgrades

    func forwardUpgrade(_ request: TunnelHeaders.ReceivedRequest, upgrade: String, stream: TunnelStream) async {
        let token: String?
        do {
            token = try tokens.current()
        } catch {
            try? await respondError(stream, status: 503, message: "the agent cannot read its service-account token: \(error)")
            return
        }
        var fields: [(String, String)] = [("Host", route.authority)]
        for (name, value) in request.fields where !["connection", "upgrade", "host"].contains(name) { fields.append((name, value)) }
        fields.append(("Connection", "Upgrade"))
        fields.append(("Upgrade", upgrade))
        if let token { fields.append(("Authorization", "Bearer \(token)")) }
        let requestText = UpgradeResponseReader.requestText(method: request.method, path: request.path, fields: fields)

        let apiserver: any Channel
        let outcome: UpgradeResponseReader.Outcome
        do {
            (apiserver, outcome) = try await dialUpgrade(requestText, eventLoop: stream.channel.eventLoop)
        } catch {
            logger.warning("agent: apiserver upgrade failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            try? await respondError(stream, status: 502, message: "the agent cannot reach its apiserver \(kube.server): \(error)")
            return
        }
        switch outcome {
        case .refused(let head, let body):
            apiserver.close(promise: nil)
            do {
                try await stream.writeHeaders(TunnelHeaders.responseBlock(status: head.status, fields: head.fields))
                try await stream.writeData(body, endStream: true)
            } catch {
                stream.reset()
            }
        case .switched(let head):
            do {
                let upgraded = head.first("upgrade") ?? upgrade
                let block = TunnelHeaders.responseBlock(status: 200, fields: head.fields,
                                                        extra: [(TunnelProtocol.statusHeader, "101"), (TunnelProtocol.upgradeHeader, upgraded)])
                try await stream.writeHeaders(block)
                let streamHandler = stream.handler
                let streamChannel = stream.channel
                try await apiserver.eventLoop.submit {
                    let pipeline = apiserver.pipeline.syncOperations
                    let reader = try pipeline.handler(type: UpgradeResponseReader.self)
                    let readerContext = try pipeline.context(handler: reader)
                    // The stream and the apiserver connection share this event loop.
                    let splice = ChannelSplice.Pair(streamChannel, apiserver)
                    try streamChannel.pipeline.syncOperations.addHandler(splice.makeFirst())
                    try pipeline.addHandler(splice.makeSecond())
                    splice.start()
                    streamHandler.value.switchToRaw()
                    // What came with the 101 (often a short exec's whole output) goes through the splice now.
                    reader.handOver(context: readerContext)
                    streamChannel.flush()
                    if apiserver.isActive {
                        streamChannel.read()
                        apiserver.read()
                    } else {
                        streamChannel.close(promise: nil)
                    }
                }.get()
            } catch {
                apiserver.close(promise: nil)
                stream.reset()
            }
        }
    }

    /// Connects to the apiserver on `eventLoop` (the stream's, so the two can be spliced) and sends the upgrade.
    private func dialUpgrade(_ requestText: String, eventLoop: any EventLoop) async throws -> (any Channel, UpgradeResponseReader.Outcome) {
        let sslContext = self.sslContext
        let host = route.host
        let promise = eventLoop.makePromise(of: UpgradeResponseReader.Outcome.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(10))
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: isAddress ? nil : host))
                    try channel.pipeline.syncOperations.addHandler(UpgradeResponseReader(promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: route.host, port: route.port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        channel.writeAndFlush(ByteBuffer(string: requestText), promise: nil)
        do {
            return (channel, try await promise.futureResult.get())
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }
}
