import BCSKube
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// One bodiless tunnel request that `ApiserverFastStreams` serves without a stream channel.
///
/// The exchange: the service-account token, the apiserver's answer relayed part by part, one retry when a pooled connection turns out closed, a `Status`
/// answer from the agent when the apiserver cannot be reached (502), the token cannot be read (503)
/// or the answer does not begin in time (504). Backpressure: each DATA frame is written with a
/// promise that completes once NIOHTTP2 has sent it, after the gateway's window let it go; while
/// more than `highWatermark` bytes are unsent the apiserver is not read, so a paused `logs -f`
/// reader stalls its own apiserver connection, nothing else.
final class ApiserverFastStream: UpstreamResponseReceiver {
    static let highWatermark = 256 * 1024
    static let lowWatermark = 64 * 1024

    let id: HTTP2StreamID
    private unowned let streams: ApiserverFastStreams
    /// The request as it goes to the apiserver, kept for one retry on a new connection.
    private struct OutgoingRequest {
        let method: String
        let target: String
        let fields: [(name: String, value: String)]
    }

    private var request: OutgoingRequest?
    private var connection: UpstreamConnection?
    private var reused = false
    private var retried = false
    private var answered = false
    private var keepAlive = true
    private var unsent = 0
    private var waitingForWindow = false
    private var done = false
    /// When the apiserver's answer must have begun; `ApiserverFastStreams` looks once a second.
    private(set) var deadline = NIODeadline.distantFuture

    init(id: HTTP2StreamID, streams: ApiserverFastStreams) {
        self.id = id
        self.streams = streams
    }

    private var route: ApiserverRoute { streams.route }

    func forward(_ received: TunnelHeaders.ReceivedRequest, on eventLoop: any EventLoop) {
        let token: String?
        do {
            // Read from its file at most once per token period; a small local file.
            token = try route.tokens.current()
        } catch {
            route.logger.error("agent: cannot read the service-account token", metadata: ["error": "\(error)"])
            respondError(status: 503, message: "the agent cannot read its service-account token: \(error)")
            return
        }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(received.fields.count + 2)
        fields.append(("Host", route.authority))
        fields.append(contentsOf: received.fields)
        if let token { fields.append(("Authorization", "Bearer " + token)) }
        request = OutgoingRequest(method: received.method, target: route.pathPrefix + received.path, fields: fields)
        deadline = .now() + route.responseTimeout
        if let pooled = route.connections.pool(on: eventLoop).take(generation: 0) {
            send(on: pooled, reused: true)
        } else {
            dial(on: eventLoop)
        }
    }

    private func dial(on eventLoop: any EventLoop) {
        let pool = route.connections.pool(on: eventLoop)
        pool.connect(host: route.host, port: route.port, tls: route.tls).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard let connection = try? pool.adopt(channel, generation: 0) else {
                    channel.close(promise: nil)
                    unreachable("the connection could not be set up")
                    return
                }
                guard !done, self.connection == nil, !answered else {
                    pool.put(connection)  // ended meanwhile; the next one can use it
                    return
                }
                send(on: connection, reused: false)
            case .failure(let error):
                unreachable("\(error)")
            }
        }
    }

    private func send(on connection: UpstreamConnection, reused: Bool) {
        guard let request else { return }
        self.connection = connection
        self.reused = reused
        connection.send(method: request.method, target: request.target, fields: request.fields, to: self)
    }

    /// The gateway reset the stream (its client left a watch) or the session ended.
    func gatewayLeft() {
        guard !done else { return }
        finish()
        if let connection {
            connection.exchange.abandon()
            connection.channel.close(promise: nil)
            self.connection = nil
        }
    }

    /// Done before the stream's last frame: ending it may make NIOHTTP2 report it closed at once,
    /// which must not be taken for the gateway leaving. (`ApiserverFastStreams` lists it until then.)
    private func finish() {
        done = true
    }

    private func unreachable(_ why: String) {
        guard !done, !answered else { return }
        route.logger.warning("agent: apiserver request failed", metadata: ["path": "\(request?.target ?? "")", "error": "\(why)"])
        respondError(status: 502, message: "the agent cannot reach its apiserver \(route.server): \(why)")
    }

    /// Answers 504 if the apiserver has not begun its answer by the deadline.
    func checkDeadline(now: NIODeadline) {
        guard !done, !answered, now >= deadline else { return }
        if let connection {
            connection.exchange.abandon()
            connection.channel.close(promise: nil)
            self.connection = nil
        }
        respondError(status: 504, message: "the apiserver \(route.server) did not answer within \(route.responseTimeout.nanoseconds / 1_000_000_000) s")
    }

    /// A Kubernetes `Status` answer from the agent itself; ends the stream.
    private func respondError(status: Int, message: String) {
        guard !done else { return }
        answered = true
        finish()
        let (block, body) = ApiserverForwarder.statusAnswer(status: status, message: message)
        streams.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: block))))
        streams.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body), endStream: true))))
        streams.flush()
    }

    // MARK: UpstreamResponseReceiver

    func upstreamPayloadHead(_ head: HTTP1ResponseHead) {
        guard !done else { return }
        answered = true
        keepAlive = head.keepAlive
        streams.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: TunnelHeaders.responseBlock(head)))))
    }

    func upstreamHead(_ head: HTTPResponseHead) {
        guard !done else { return }
        answered = true
        keepAlive = head.isKeepAlive
        let block = TunnelHeaders.responseBlock(status: Int(head.status.code), fields: head.headers.map { ($0.name, $0.value) })
        streams.write(HTTP2Frame(streamID: id, payload: .headers(.init(headers: block))))
    }

    func upstreamBody(_ body: ByteBuffer) {
        guard !done, body.readableBytes > 0, let eventLoop = streams.context?.eventLoop else { return }  // no empty DATA frames
        let size = body.readableBytes
        unsent += size
        let sent = eventLoop.makePromise(of: Void.self)
        sent.futureResult.assumeIsolated().whenComplete { [self] _ in
            unsent -= size
            if waitingForWindow, unsent <= Self.lowWatermark, !done, let connection {
                waitingForWindow = false
                connection.channel.read()
            }
        }
        streams.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body)))), promise: sent)
    }

    func upstreamReadComplete() {
        guard !done, let connection else { return }
        streams.flush()
        if unsent <= Self.highWatermark {
            connection.channel.read()
        } else {
            waitingForWindow = true
        }
    }

    func upstreamEnd() {
        guard !done else { return }
        // Back to the pool before the last write, as the stream handler does.
        if let connection, let eventLoop = streams.context?.eventLoop {
            self.connection = nil
            if keepAlive { route.connections.pool(on: eventLoop).put(connection) } else { connection.channel.close(promise: nil) }
        }
        finish()
        streams.write(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))))
        streams.flush()
    }

    func upstreamClosed() {
        guard !done else { return }
        connection = nil
        guard answered else {
            // A pooled connection the apiserver had closed: one more try on a new one.
            if reused, !retried, let eventLoop = streams.context?.eventLoop {
                retried = true
                dial(on: eventLoop)
            } else {
                unreachable("the connection closed before an answer")
            }
            return
        }
        // Cut off mid-answer: the stream is reset, as the apiserver's connection was.
        finish()
        streams.write(HTTP2Frame(streamID: id, payload: .rstStream(.internalError)))
        streams.flush()
    }
}
