import BCSKube
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import NIOSSL

/// Where the agent's streams go: its one apiserver, with the pieces a stream handler needs.
struct ApiserverRoute: Sendable {
    let host: String
    let port: Int
    /// The `Host` field: `host:port`, IPv6 literals in brackets.
    let authority: String
    /// A path the kubeconfig's server URL carries (a proxy in front of the apiserver), or "".
    let pathPrefix: String
    let tls: NIOSSLContext?
    let tokens: TokenCache
    let connections: UpstreamConnectionPools
    let logger: Logger
    /// The apiserver's address as configured, for error messages.
    let server: String
}

/// Serves a tunnel stream whose request has no body and is no upgrade — `get`, `list`, a watch,
/// `logs -f`, a `delete` without options — on the stream's own event loop, over a pooled
/// keep-alive connection to the apiserver; hands every other stream to the async forwarder.
///
/// Why: the async forwarder runs each stream as a task through AsyncHTTPClient, several thread
/// hops per request, which made the agent cost as much CPU per request as the gateway. Here the
/// stream and its apiserver connection share one thread. The answer is relayed part by part: a
/// flush per read from the apiserver, and no further read while the stream's flow-control window
/// is full (so a paused `logs -f` reader stalls its own apiserver connection, nothing else).
final class ApiserverStreamHandler: ChannelDuplexHandler, UpstreamResponseReceiver {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// The apiserver must begin its answer within this time (the async forwarder's limit too).
    static let responseTimeout: TimeAmount = .seconds(120)

    private enum State {
        case waitingForHead
        /// The async forwarder has the stream; frames pass through.
        case handedOver
        case forwarding
        case done
    }

    private let route: ApiserverRoute
    /// Installs the async forwarder's handler after this one and starts it; called at most once.
    private let handOver: () throws -> Void
    private var state = State.waitingForHead
    private var context: ChannelHandlerContext?
    private var request: HTTPRequestHead?
    private var connection: UpstreamConnection?
    private var reused = false
    private var retried = false
    private var answered = false
    private var keepAlive = true
    private var waitingForWritability = false
    private var timeout: Scheduled<Void>?

    init(route: ApiserverRoute, handOver: @escaping () throws -> Void) {
        self.route = route
        self.handOver = handOver
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .handedOver:
            context.fireChannelRead(data)
        case .forwarding, .done:
            break  // a bodiless request has nothing more to say; a reset closes the channel
        case .waitingForHead:
            guard case .headers(let headers) = unwrapInboundIn(data) else { return }
            if headers.endStream, let received = TunnelHeaders.receivedRequest(headers.headers), received.upgrade == nil {
                forward(received, context: context)
                return
            }
            state = .handedOver
            do {
                try handOver()
            } catch {
                context.close(promise: nil)
                return
            }
            context.fireChannelRead(data)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, waitingForWritability, let connection {
            waitingForWritability = false
            connection.channel.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The gateway reset the stream (its client left a watch) or the session ended.
        timeout?.cancel()
        if let connection {
            connection.exchange.abandon()
            connection.channel.close(promise: nil)
            self.connection = nil
        }
        if state == .forwarding { state = .done }
        context.fireChannelInactive()
    }

    // MARK: The exchange

    private func forward(_ received: TunnelHeaders.ReceivedRequest, context: ChannelHandlerContext) {
        state = .forwarding
        let token: String?
        do {
            // Read from its file at most once per token period; a small local file.
            token = try route.tokens.current()
        } catch {
            route.logger.error("agent: cannot read the service-account token", metadata: ["error": "\(error)"])
            respondError(status: 503, message: "the agent cannot read its service-account token: \(error)")
            return
        }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: received.method), uri: route.pathPrefix + received.path)
        head.headers.reserveCapacity(received.fields.count + 2)
        head.headers.add(name: "Host", value: route.authority)
        for (name, value) in received.fields { head.headers.add(name: name, value: value) }
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request = head
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: Self.responseTimeout) { [weak self] in
            self?.timedOut()
        }
        if let pooled = route.connections.pool(on: context.eventLoop).take(generation: 0) {
            send(on: pooled, reused: true)
        } else {
            dial()
        }
    }

    private func dial() {
        guard let context else { return }
        let pool = route.connections.pool(on: context.eventLoop)
        pool.connect(host: route.host, port: route.port, tls: route.tls).assumeIsolated().whenComplete { [weak self] result in
            switch result {
            case .success(let channel):
                guard let connection = try? pool.adopt(channel, generation: 0) else {
                    channel.close(promise: nil)
                    self?.unreachable("the connection could not be set up")
                    return
                }
                guard let self, self.state == .forwarding, self.connection == nil, !self.answered else {
                    pool.put(connection)  // its stream ended meanwhile; the next one can use it
                    return
                }
                self.send(on: connection, reused: false)
            case .failure(let error):
                self?.unreachable("\(error)")
            }
        }
    }

    private func send(on connection: UpstreamConnection, reused: Bool) {
        guard let request else { return }
        self.connection = connection
        self.reused = reused
        connection.send(request, to: self)
    }

    private func unreachable(_ why: String) {
        guard state == .forwarding, !answered else { return }
        route.logger.warning("agent: apiserver request failed", metadata: ["path": "\(request?.uri ?? "")", "error": "\(why)"])
        respondError(status: 502, message: "the agent cannot reach its apiserver \(route.server): \(why)")
    }

    private func timedOut() {
        guard state == .forwarding, !answered else { return }
        if let connection {
            connection.exchange.abandon()
            connection.channel.close(promise: nil)
            self.connection = nil
        }
        respondError(status: 504, message: "the apiserver \(route.server) did not answer within \(Self.responseTimeout.nanoseconds / 1_000_000_000) s")
    }

    /// A Kubernetes `Status` answer from the agent itself; ends the stream.
    private func respondError(status: Int, message: String) {
        guard let context else { return }
        timeout?.cancel()
        answered = true
        state = .done
        let (block, body) = ApiserverForwarder.statusAnswer(status: status, message: message)
        context.write(wrapOutboundOut(.headers(.init(headers: block))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true))), promise: nil)
    }

    // MARK: UpstreamResponseReceiver

    func upstreamHead(_ head: HTTPResponseHead) {
        guard state == .forwarding, let context else { return }
        timeout?.cancel()
        answered = true
        keepAlive = head.isKeepAlive
        let block = TunnelHeaders.responseBlock(status: Int(head.status.code), fields: head.headers.map { ($0.name, $0.value) })
        context.write(wrapOutboundOut(.headers(.init(headers: block))), promise: nil)
    }

    func upstreamBody(_ body: ByteBuffer) {
        guard state == .forwarding, body.readableBytes > 0, let context else { return }  // no empty DATA frames
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(body)))), promise: nil)
    }

    func upstreamEnd() {
        guard state == .forwarding, let context else { return }
        state = .done
        // Back to the pool before the last write: ending the stream may close its channel at once.
        if let connection {
            self.connection = nil
            if keepAlive { route.connections.pool(on: context.eventLoop).put(connection) } else { connection.channel.close(promise: nil) }
        }
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: nil)
    }

    func upstreamReadComplete() {
        guard state == .forwarding, let connection, let context else { return }
        context.flush()
        if context.channel.isWritable {
            connection.channel.read()
        } else {
            waitingForWritability = true
        }
    }

    func upstreamClosed() {
        guard state == .forwarding, let context else { return }
        connection = nil
        guard answered else {
            // A pooled connection the apiserver had closed: one more try on a new one.
            if reused, !retried {
                retried = true
                dial()
            } else {
                unreachable("the connection closed before an answer")
            }
            return
        }
        // Cut off mid-answer: the stream is reset, as the apiserver's connection was.
        state = .done
        context.close(promise: nil)
    }
}
