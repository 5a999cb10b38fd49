import BCSKube
import BCSTunnel
import HTTPTypes
import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// One fast-path GET that `HTTP2FastStreams` carries on its HTTP/2 stream, without a stream channel.
///
/// The apiserver's (or the agent tunnel's) answer goes out as the stream's HEADERS and DATA frames.
/// Backpressure: each DATA frame is written with a promise that completes once NIOHTTP2 has sent it,
/// which is after the client's flow-control window let it go; while more than `highWatermark` bytes
/// are written but not yet sent, the apiserver is not read (a client that stops reading a large
/// list stalls this stream's apiserver connection, not the gateway's memory).
final class FastStream: UpstreamResponseReceiver {
    static let highWatermark = 64 * 1024
    static let lowWatermark = 16 * 1024

    let id: HTTP2StreamID
    let plan: FastPath.Plan
    /// As NIOHTTP2 delivered them, for a give-back to the ordinary path.
    let headersFrame: HTTP2Frame
    var createdEvent: NIOHTTP2StreamCreatedEvent?
    /// When the answer must have begun (`FastProxyHandler.responseTimeout`).
    let deadline: NIODeadline
    /// The status sent, once the answer's head went out.
    private(set) var status: Int?
    private unowned let streams: HTTP2FastStreams
    private var upstream: FastProxyHandler.Upstream?
    private var reused = false
    private var retried = false
    private var keepAlive = true
    private var bytes = 0
    private var unsent = 0
    private var waitingForWindow = false
    private var done = false

    init(id: HTTP2StreamID, plan: FastPath.Plan, headersFrame: HTTP2Frame, streams: HTTP2FastStreams) {
        self.id = id
        self.plan = plan
        self.headersFrame = headersFrame
        self.streams = streams
        self.deadline = .now() + FastProxyHandler.responseTimeout
    }

    func start(on eventLoop: any EventLoop) {
        switch plan.target {
        case .direct(let route, _):
            if let connection = streams.pool?.take(generation: route.generation) {
                send(on: connection, reused: true)
            } else {
                dial(route)
            }
        case .tunnel(let session, let headers):
            streams.fastPath.metrics.tunnelRequests.increment()
            session.openRelayStream(headers: headers, to: self, on: eventLoop).assumeIsolated().whenComplete { [self] result in
                switch result {
                case .success(let stream):
                    guard !done, upstream == nil, status == nil else {
                        stream.abandon()  // ended meanwhile (timed out, client gone)
                        return
                    }
                    upstream = .tunnel(stream)
                case .failure:
                    giveBack()  // the session closed: the ordinary path picks another way or explains
                }
            }
        }
    }

    private func dial(_ route: DirectRoute) {
        guard let pool = streams.pool else { return }
        let generation = route.generation
        pool.connect(host: route.address.host, port: route.address.port, tls: route.tls).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard let connection = try? pool.adopt(channel, generation: generation) else {
                    channel.close(promise: nil)
                    giveBack()
                    return
                }
                guard !done, upstream == nil, status == nil else {
                    pool.put(connection)  // ended meanwhile; the next one can use it
                    return
                }
                send(on: connection, reused: false)
            case .failure:
                giveBack()
            }
        }
    }

    private func send(on connection: UpstreamConnection, reused: Bool) {
        guard case .direct(_, .parts(let head)) = plan.target else { return }
        upstream = .pooled(connection)
        self.reused = reused
        connection.send(head, to: self)
    }

    /// To the ordinary path, which answers or explains; only before any of the answer went out.
    private func giveBack() {
        guard !done, status == nil else { return }
        done = true
        upstream?.abandon()
        upstream = nil
        streams.giveBack(self)
    }

    /// The client reset the stream or the connection ended.
    func clientLeft() {
        guard !done else { return }
        done = true
        upstream?.abandon()
        upstream = nil
        record(status: 499)  // nginx's code for a client that left before its answer ended
    }

    func timedOut() {
        guard !done, status == nil else { return }
        upstream?.abandon()
        upstream = nil
        let body = KubeStatus.gatewayTimeout("cluster \(plan.clusterID): the apiserver did not answer within 30 s").jsonBody()
        var block = HPACKHeaders()
        block.add(name: ":status", value: "504")
        block.add(name: "content-type", value: "application/json")
        block.add(name: "content-length", value: String(body.readableBytes))
        status = 504
        bytes = body.readableBytes
        finish()
        streams.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: block))))
        streams.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body), endStream: true))))
        streams.flush()
    }

    /// Done before the last frame is written: ending the stream may make NIOHTTP2 report it closed
    /// at once, which must not be taken for its client leaving. (`HTTP2FastStreams` lists it until then.)
    private func finish() {
        done = true
        record(status: status ?? 502)
    }

    /// Still waiting for its answer to begin (the deadline applies).
    var isWaiting: Bool { !done && status == nil }

    private func record(status: Int) {
        if case .direct(let route, _) = plan.target { route.served.increment() }
        streams.fastPath.audit.record(user: plan.user, cluster: plan.clusterID, verb: "GET", path: plan.subPath, status: status, bytes: bytes, started: plan.started)
        streams.fastPath.metrics.record(route: plan.routeName, status: status, since: plan.started)
    }

    // MARK: UpstreamResponseReceiver

    func upstreamHead(_ head: HTTPResponseHead) {
        guard !done else { return }
        status = Int(head.status.code)
        keepAlive = head.isKeepAlive
        var block = HPACKHeaders()
        block.reserveCapacity(head.headers.count + 2)
        block.add(name: ":status", value: String(head.status.code))
        // As the HTTP/2 codec writes a relayed head: the same fields, names in lower case.
        for field in KubeProxy.relayedHeaders(head.headers) { block.add(name: field.name.canonicalName, value: field.value) }
        streams.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: block))))
    }

    func upstreamBody(_ body: ByteBuffer) {
        guard !done, body.readableBytes > 0, let eventLoop = streams.context?.eventLoop else { return }
        let size = body.readableBytes
        bytes += size
        unsent += size
        let sent = eventLoop.makePromise(of: Void.self)
        sent.futureResult.assumeIsolated().whenComplete { [self] _ in
            unsent -= size
            if waitingForWindow, unsent <= Self.lowWatermark, !done, let upstream {
                waitingForWindow = false
                upstream.read()
            }
        }
        streams.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body)))), promise: sent)
    }

    func upstreamReadComplete() {
        guard !done, let upstream else { return }
        streams.flush()
        if unsent <= Self.highWatermark {
            upstream.read()
        } else {
            waitingForWindow = true
        }
    }

    func upstreamEnd() {
        guard !done else { return }
        let ended = upstream
        upstream = nil
        if case .pooled(let connection) = ended {
            if keepAlive { streams.pool?.put(connection) } else { connection.channel.close(promise: nil) }
        }
        finish()
        streams.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))))
        streams.flush()
    }

    func upstreamClosed() {
        guard !done else { return }
        upstream = nil
        guard status != nil else {
            // A pooled connection the apiserver had closed: one more try on a new one.
            if reused, !retried, case .direct(let route, _) = plan.target {
                retried = true
                dial(route)
            } else {
                giveBack()
            }
            return
        }
        // Cut off mid-answer: the stream is reset, as the apiserver's connection was.
        finish()
        streams.write(HTTP2Frame(streamID: id, payload: .rstStream(.internalError)))
        streams.flush()
    }
}
