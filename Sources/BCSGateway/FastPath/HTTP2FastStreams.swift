import BCSKube
import HTTPTypes
import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP2

/// Answers fast-path GETs on an HTTP/2 connection from its frames, without a stream channel.
///
/// Sits between the connection's HTTP/2 handler and its stream multiplexer. A new stream whose
/// HEADERS end it (no body) and which `FastPath` can plan becomes a `FastStream` here: its answer is
/// written as HEADERS and DATA frames of that stream, and the multiplexer never hears of it. Every
/// other stream goes on to the multiplexer as before (a stream channel, the codec, `FastProxyHandler`,
/// the responder). Why: making a stream channel with a pipeline of its own for each request was
/// most of what an HTTP/2 GET cost the gateway beyond an HTTP/1.1 one.
///
/// A fast stream that cannot be carried after all (no apiserver connection, a closed tunnel) before
/// any of its answer went out is given back: its HEADERS frame and stream-created event go on to the
/// multiplexer as NIOHTTP2 delivered them, and the ordinary path answers.
final class HTTP2FastStreams: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let fastPath: FastPath
    private(set) var context: ChannelHandlerContext?
    private(set) var pool: UpstreamConnectionPool?
    private var streams: [HTTP2StreamID: FastStream] = [:]
    /// Client stream IDs only grow: a HEADERS frame above this one opens a stream.
    private var lastClientStream = HTTP2StreamID.rootStream
    private var deadlineCheck: Scheduled<Void>?

    init(fastPath: FastPath) {
        self.fastPath = fastPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = fastPath.connections.pool(on: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlineCheck?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let stream = streams[frame.streamID] {
            // WINDOW_UPDATE and PRIORITY are NIOHTTP2's business; a reset ends the exchange.
            if case .rstStream = frame.payload { stream.clientLeft() }
            return
        }
        if case .headers(let headers) = frame.payload, frame.streamID > lastClientStream {
            lastClientStream = frame.streamID
            if headers.endStream, let request = Self.request(headers.headers), let plan = fastPath.plan(request, loop: context.eventLoop) {
                let stream = FastStream(id: frame.streamID, plan: plan, headersFrame: frame, streams: self)
                streams[frame.streamID] = stream
                armDeadlineCheck(context: context)
                stream.start(on: context.eventLoop)
                return
            }
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let created as NIOHTTP2StreamCreatedEvent:
            if let stream = streams[created.streamID] {
                stream.createdEvent = created  // kept for a give-back
                return
            }
        case let closed as StreamClosedEvent:
            // Listed until NIOHTTP2 closes the stream, not just until its answer was written: the
            // last frames may wait for the client's window, and frames the client sends meanwhile
            // (WINDOW_UPDATE) must not reach the multiplexer, which knows no such stream.
            if let stream = streams.removeValue(forKey: closed.streamID) {
                stream.clientLeft()  // nothing, if its answer had ended
                return
            }
        case let window as NIOHTTP2WindowUpdatedEvent where streams[window.streamID] != nil:
            return
        default:
            break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let streamError = error as? NIOHTTP2Errors.StreamError, let stream = streams[streamError.streamID] {
            stream.clientLeft()
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for stream in streams.values { stream.clientLeft() }
        streams.removeAll()
        context.fireChannelInactive()
    }

    // MARK: For the streams

    /// Writes one of a fast stream's frames.
    func write(_ frame: HTTP2Frame, promise: EventLoopPromise<Void>? = nil) {
        context?.write(wrapOutboundOut(frame), promise: promise)
    }

    func flush() {
        context?.flush()
    }

    /// Hands a stream to the multiplexer as NIOHTTP2 delivered it; only before any answer went out.
    func giveBack(_ stream: FastStream) {
        guard let context else { return }
        streams[stream.id] = nil
        fastPath.metrics.fallbacks.increment()
        context.fireChannelRead(wrapInboundOut(stream.headersFrame))
        if let created = stream.createdEvent { context.fireUserInboundEventTriggered(created) }
        context.fireChannelReadComplete()
    }

    // MARK: Deadlines

    /// One timer for the connection, while streams wait for an answer to begin.
    private func armDeadlineCheck(context: ChannelHandlerContext) {
        guard deadlineCheck == nil else { return }
        deadlineCheck = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [weak self] in
            self?.checkDeadlines()
        }
    }

    private func checkDeadlines() {
        deadlineCheck = nil
        let now = NIODeadline.now()
        var waiting = false
        for stream in streams.values where stream.isWaiting {
            if stream.deadline <= now { stream.timedOut() } else { waiting = true }
        }
        if waiting, let context { armDeadlineCheck(context: context) }
    }

    // MARK: Requests from header blocks

    /// The request a HEADERS frame carries, as the HTTP/2 codec would make it; nil without the
    /// pseudo-fields a GET needs.
    static func request(_ block: HPACKHeaders) -> HTTPRequest? {
        var method: HTTPRequest.Method?
        var scheme: String?
        var authority: String?
        var path: String?
        var fields = HTTPFields()
        fields.reserveCapacity(block.count)
        for (name, value, _) in block {
            guard name.utf8.first == UInt8(ascii: ":") else {
                guard let fieldName = HTTPField.Name(name) else { return nil }
                fields.append(HTTPField(name: fieldName, value: value))
                continue
            }
            switch name {
            case ":method": method = HTTPRequest.Method(value)
            case ":scheme": scheme = value
            case ":authority": authority = value
            case ":path": path = value
            default: return nil
            }
        }
        guard let method, let path else { return nil }
        return HTTPRequest(method: method, scheme: scheme, authority: authority, path: path, headerFields: fields)
    }
}
