import BCSCore
import BCSKube
import BCSTunnel
import Foundation
import HTTPTypes
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Proxies the fast path's requests (`FastPath.plan`) on the client connection's event loop and
/// hands every other request to Hummingbird unchanged.
///
/// It sits in the server pipeline after the HTTP codec and before Hummingbird's handler, on HTTP/1
/// connections and HTTP/2 streams alike. Order on a connection is kept: a request takes the fast
/// path only when no request is in flight on the slow path, and a request arriving while a fast
/// exchange runs waits here (the connection then stops reading until it is passed on). A failure
/// before the apiserver's answer began — no connection, a pooled connection found closed twice —
/// sends the request down the slow path, which fails over between addresses and explains errors;
/// after the answer began, the client's connection is closed as the upstream's was.
///
/// On an HTTP/1 connection it also installs `HTTP1WireLane` ahead of NIO's parser and runs the
/// exchanges the lane hands it as bytes: their answers go back through the lane unparsed.
final class FastProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseReceiver {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The apiserver must begin its answer within this time (the slow path's limit too).
    static let responseTimeout: TimeAmount = .seconds(30)

    private let fastPath: FastPath
    private var context: ChannelHandlerContext?
    /// On an HTTP/1 connection, the lane reading requests as bytes ahead of the parser.
    private var lane: HTTP1WireLane?
    /// The next request the parser delivers was given back by the lane's fast exchange: the
    /// ordinary path takes it.
    private var declineNextHead = false
    /// On an HTTP/1 connection, the HTTP-types codec's context: the apiserver's answer is written
    /// through it as the HTTP/1 parts it arrived as, instead of being converted to HTTP types and
    /// back (the codec's writes are stateless conversions, so skipping it changes nothing else).
    private var http1Codec: ChannelHandlerContext?
    private var pool: UpstreamConnectionPool?
    private var exchange: Exchange?
    private var exchanges = 0
    /// Requests handed to Hummingbird whose response has not ended yet.
    private var slowUnanswered = 0
    /// Between a slow request's head and its end: its parts go to Hummingbird.
    private var slowRequestOpen = false
    /// Parts that arrived while a fast exchange ran (HTTP/1 pipelining), in order.
    private var held: [HTTPRequestPart] = []
    private var readHeld = false
    /// The client half-closed while an exchange ran: passed on once its answer has gone out.
    private var inputClosedHeld = false
    /// Checks the running exchange's deadline. One per connection, armed when an exchange starts
    /// and none is armed, re-armed for the exchange running when it fires: scheduling and
    /// cancelling a timer for every request cost more than the check.
    private var deadlineCheck: Scheduled<Void>?

    init(fastPath: FastPath) {
        self.fastPath = fastPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = fastPath.connections.pool(on: context.eventLoop)
        http1Codec = try? context.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
        // On an HTTP/2 stream (kubectl's usual connection): the answers of all the connection's
        // streams that end in one event-loop tick leave in one TLS write. (An HTTP/1 connection's
        // parent is the listening socket, maybe on another loop: not that.)
        if http1Codec == nil, let connection = context.channel.parent, connection.eventLoop === context.eventLoop {
            try? connection.pipeline.syncOperations.addFlushCoalescer(before: NIOHTTP2Handler.self)
        }
        // On an HTTP/1 connection: the wire lane goes ahead of NIO's parser and encoder.
        if http1Codec != nil, let encoder = try? context.pipeline.syncOperations.handler(type: HTTPResponseEncoder.self) {
            let lane = HTTP1WireLane(fastPath: fastPath, proxy: self)
            if (try? context.pipeline.syncOperations.addHandler(lane, position: .before(encoder))) != nil { self.lane = lane }
        }
    }

    /// Nothing is under way on the connection: no exchange, no request of the ordinary path
    /// unanswered, nothing waiting. Only then may the wire lane take a request.
    var isQuiet: Bool {
        exchange == nil && slowUnanswered == 0 && !slowRequestOpen && held.isEmpty && !inputClosedHeld
    }

    /// The lane left the pipeline: the connection is the parser's alone from here on.
    func laneRemoved() {
        lane = nil
    }

    /// Takes a request the wire lane planned; its answer is written through the lane.
    func startWire(_ plan: FastPath.Plan, clientHead: ByteBuffer) {
        guard let context else { return }
        fastPath.metrics.wireRequests.increment()
        start(plan: plan, request: .wire(clientHead), context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlineCheck?.cancel()
        deadlineCheck = nil
        self.context = nil
        http1Codec = nil
        lane = nil
    }

    // MARK: Inbound: requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deliver(unwrapInboundIn(data), context: context)
    }

    private func deliver(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if exchange != nil {
            if case .end = part, exchange?.requestEnded == false {
                exchange?.requestEnded = true
                finishIfDone()
            } else {
                held.append(part)
            }
            return
        }
        switch part {
        case .head(let request):
            if declineNextHead {
                declineNextHead = false
            } else if slowUnanswered == 0, !slowRequestOpen, let plan = fastPath.plan(request, loop: context.eventLoop) {
                start(plan: plan, request: .parts(request), context: context)
                return
            }
            slowUnanswered += 1
            slowRequestOpen = true
        case .body:
            break
        case .end:
            slowRequestOpen = false
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// Reads go on during an exchange (so a client leaving is noticed, and the socket's read interest
    /// is not dropped and re-added for every request); they stop only once a pipelined request is
    /// waiting in `held`, which bounds it to one read's worth of parts.
    func read(context: ChannelHandlerContext) {
        if exchange != nil, !held.isEmpty {
            readHeld = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client that half-closes after its request still wants the answer; Hummingbird, told
        // now, would end the connection under the running exchange.
        if let event = event as? ChannelEvent, event == .inputClosed, exchange != nil || !held.isEmpty {
            inputClosedHeld = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Hummingbird's answers pass here; the fast path's own writes start below this handler.
        guard case .end = unwrapOutboundIn(data), slowUnanswered > 0 else {
            context.write(data, promise: promise)
            return
        }
        slowUnanswered -= 1
        context.write(data, promise: promise)
        // The lane may hold the next request for this answer; it looks once this write is done.
        if let lane, isQuiet { context.eventLoop.assumeIsolated().execute { lane.proxyQuiet() } }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, exchange?.waitingForWritability == true, let upstream = exchange?.upstream {
            exchange?.waitingForWritability = false
            upstream.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlineCheck?.cancel()
        deadlineCheck = nil
        if let gone = exchange {
            gone.upstream?.abandon()
            exchange = nil
            // 499: the client went away before its answer ended (nginx's code for it). An answer
            // that ended was recorded then.
            if !gone.responseEnded { record(gone.plan, status: 499, bytes: gone.bytes) }
        }
        held.removeAll()
        context.fireChannelInactive()
    }

    // MARK: The exchange

    private func start(plan: FastPath.Plan, request: ClientRequest, context: ChannelHandlerContext) {
        exchanges += 1
        let id = exchanges
        let deadline = NIODeadline.now() + Self.responseTimeout
        exchange = Exchange(id: id, plan: plan, request: request, deadline: deadline)
        if case .wire = request { exchange?.requestEnded = true }  // a GET without a body: its head is all of it
        if deadlineCheck == nil { armDeadlineCheck(at: deadline, context: context) }
        switch plan.target {
        case .direct(let route, _):
            if let connection = pool?.take(generation: route.generation) {
                send(on: connection, reused: true)
            } else {
                dial(route)
            }
        case .tunnel(let session, let headers):
            fastPath.metrics.tunnelRequests.increment()
            session.openRelayStream(headers: headers, to: self, on: context.eventLoop).assumeIsolated().whenComplete { [weak self] result in
                switch result {
                case .success(let stream):
                    guard let self, self.exchange?.id == id, self.exchange?.upstream == nil, self.exchange?.status == nil else {
                        stream.abandon()  // its exchange ended meanwhile (timed out, client gone)
                        return
                    }
                    self.exchange?.upstream = .tunnel(stream)
                case .failure:
                    self?.fallBack(id)  // the session closed: the ordinary path picks another way or explains
                }
            }
        }
    }

    private func dial(_ route: DirectRoute) {
        guard let pool, let current = exchange else { return }
        let id = current.id
        let generation = route.generation
        pool.connect(host: route.address.host, port: route.address.port, tls: route.tls).assumeIsolated().whenComplete { [weak self] result in
            switch result {
            case .success(let channel):
                guard let connection = try? pool.adopt(channel, generation: generation) else {
                    channel.close(promise: nil)
                    self?.fallBack(id)
                    return
                }
                // Only for the same exchange, still waiting for its answer (not timed out meanwhile).
                guard let self, self.exchange?.id == id, self.exchange?.upstream == nil, self.exchange?.status == nil else {
                    pool.put(connection)  // its exchange ended meanwhile; the next one can use it
                    return
                }
                self.send(on: connection, reused: false)
            case .failure:
                self?.fallBack(id)
            }
        }
    }

    private func send(on connection: UpstreamConnection, reused: Bool) {
        guard case .direct(_, let head) = exchange?.plan.target else { return }
        exchange?.upstream = .pooled(connection)
        exchange?.reused = reused
        switch head {
        case .parts(let head): connection.send(head, to: self)
        case .wire(let bytes): connection.send(wireHead: bytes, to: self)
        }
    }

    /// Hands the request to the slow path; only before any of the answer went out.
    private func fallBack(_ id: Int) {
        guard let failed = exchange, failed.id == id, failed.status == nil, let context else { return }
        failed.upstream?.abandon()
        exchange = nil
        fastPath.metrics.fallbacks.increment()
        guard case .parts(let request) = failed.request else {
            if case .wire(let bytes) = failed.request, let lane {
                declineNextHead = true
                lane.replay(bytes)  // through the parser, to this handler and on to Hummingbird
            } else {
                context.close(promise: nil)  // no lane to replay it through (cannot happen): no hang
            }
            resume(context: context)
            return
        }
        slowUnanswered += 1
        context.fireChannelRead(wrapInboundOut(.head(request)))
        if failed.requestEnded {
            context.fireChannelRead(wrapInboundOut(.end(nil)))
        } else {
            slowRequestOpen = true
        }
        context.fireChannelReadComplete()
        resume(context: context)
    }

    private func armDeadlineCheck(at deadline: NIODeadline, context: ChannelHandlerContext) {
        deadlineCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.checkDeadline()
        }
    }

    /// The running exchange, if its answer has not begun, times out at its deadline.
    private func checkDeadline() {
        deadlineCheck = nil
        guard let current = exchange, current.status == nil, let context else { return }
        if current.deadline <= .now() {
            timedOut(current.id)
        } else {
            armDeadlineCheck(at: current.deadline, context: context)
        }
    }

    private func timedOut(_ id: Int) {
        guard let late = exchange, late.id == id, late.status == nil, let context else { return }
        late.upstream?.abandon()
        exchange?.upstream = nil
        let body = KubeStatus.gatewayTimeout("cluster \(late.plan.clusterID): the apiserver did not answer within 30 s").jsonBody()
        var head = HTTPResponse(status: .gatewayTimeout)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        exchange?.status = 504
        exchange?.responseEnded = true
        record(late.plan, status: 504, bytes: body.readableBytes)
        finishIfDone()
    }

    /// When both the request and its answer have ended, the connection moves on.
    private func finishIfDone() {
        guard let done = exchange, done.requestEnded, done.responseEnded, let context else { return }
        exchange = nil
        resume(context: context)
    }

    /// Delivers what waited during the exchange, then lets the connection read again.
    private func resume(context: ChannelHandlerContext) {
        if !held.isEmpty {
            let waiting = held
            held = []
            for part in waiting { deliver(part, context: context) }
            context.fireChannelReadComplete()
        }
        guard exchange == nil else { return }
        if inputClosedHeld {
            inputClosedHeld = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else if readHeld {
            readHeld = false
            context.read()
        }
        if isQuiet { lane?.proxyQuiet() }
    }

    private func record(_ plan: FastPath.Plan, status: Int, bytes: Int) {
        if case .direct(let route, _) = plan.target { route.served.increment() }
        fastPath.audit.record(user: plan.user, cluster: plan.clusterID, verb: "GET", path: plan.subPath, status: status, bytes: bytes, started: plan.started)
        fastPath.metrics.record(route: plan.routeName, status: status, since: plan.started)
    }

    // MARK: UpstreamResponseReceiver

    func upstreamHead(_ head: HTTPResponseHead) {
        guard let current = exchange, let context else { return }
        current.status = Int(head.status.code)
        current.keepAlive = head.isKeepAlive
        if current.isWire {
            // Through a tunnel, for the wire lane: written as HTTP/1.1 bytes here.
            guard let lane else {
                context.close(promise: nil)
                return
            }
            let (bytes, chunked) = WireResponse.head(head, allocator: context.channel.allocator)
            current.chunkedOut = chunked
            lane.write(bytes)
            return
        }
        if let http1Codec {
            let relayed = HTTPResponseHead(version: .http1_1, status: head.status, headers: KubeProxy.relayedHeaders(http1: head.headers))
            http1Codec.write(NIOAny(HTTPServerResponsePart.head(relayed)), promise: nil)
            return
        }
        let response = HTTPResponse(status: .init(code: Int(head.status.code), reasonPhrase: head.status.reasonPhrase),
                                    headerFields: KubeProxy.relayedHeaders(head.headers))
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    func upstreamWireHead(_ head: HTTP1ResponseHead) {
        guard let current = exchange, current.isWire, let context else { return }
        guard let lane else {
            context.close(promise: nil)  // no way to write it (cannot happen): no hang
            return
        }
        current.status = head.status
        current.keepAlive = head.keepAlive
        current.endsAtClose = head.endsAtClose
        lane.write(WireResponse.relayedHead(head, allocator: context.channel.allocator))
    }

    func upstreamBody(_ body: ByteBuffer) {
        guard let current = exchange, let context else { return }
        current.bytes += body.readableBytes
        if current.isWire {
            guard current.chunkedOut else {
                lane?.write(body)
                return
            }
            guard body.readableBytes > 0 else { return }  // an empty chunk would end the body
            lane?.write(WireResponse.chunkHeader(size: body.readableBytes, allocator: context.channel.allocator))
            lane?.write(body)
            lane?.write(WireResponse.crlf)
        } else if let http1Codec {
            http1Codec.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        } else {
            context.write(wrapOutboundOut(.body(body)), promise: nil)
        }
    }

    func upstreamEnd() {
        guard let ended = exchange, let context else { return }
        let upstream = ended.upstream
        ended.responseEnded = true
        ended.upstream = nil
        if ended.isWire {
            if ended.chunkedOut { lane?.write(WireResponse.lastChunk) }
            context.flush()
        } else if let http1Codec {
            http1Codec.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        record(ended.plan, status: ended.status ?? 502, bytes: ended.bytes)
        if case .pooled(let connection) = upstream {
            if ended.keepAlive { pool?.put(connection) } else { connection.channel.close(promise: nil) }
        }
        if ended.endsAtClose {
            exchange = nil
            context.close(promise: nil)  // the client knows the answer ended only by the close
            return
        }
        finishIfDone()
    }

    func upstreamReadComplete() {
        guard let current = exchange, !current.responseEnded, let upstream = current.upstream, let context else { return }
        context.flush()
        if context.channel.isWritable {
            upstream.read()
        } else {
            exchange?.waitingForWritability = true
        }
    }

    func upstreamClosed() {
        guard let broken = exchange, let context else { return }
        exchange?.upstream = nil
        guard let status = broken.status else {
            // A pooled connection the apiserver had closed: one more try on a new one.
            if broken.reused, !broken.retried, case .direct(let route, _) = broken.plan.target {
                exchange?.retried = true
                dial(route)
            } else {
                fallBack(broken.id)
            }
            return
        }
        exchange = nil
        record(broken.plan, status: status, bytes: broken.bytes)
        context.close(promise: nil)
    }
}
