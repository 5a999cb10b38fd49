import BCSKube
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// Serves the tunnel's bodiless requests from the connection's frames, without a stream channel.
///
/// Sits between the agent's HTTP/2 handler and its stream multiplexer. A new stream whose HEADERS
/// end it and ask for no upgrade — `get`, `list`, a watch, `logs -f` — becomes an
/// `ApiserverFastStream` here: it goes to the apiserver over a pooled connection of this loop, and
/// the answer comes back as that stream's HEADERS and DATA frames. Every other stream (a body, an
/// upgrade) goes on to the multiplexer: a stream channel with a `ForwarderHandoff`, which hands
/// it to the async forwarder. Why: making a stream channel with a pipeline of its own for each
/// request was most of the agent's CPU per request beyond the apiserver exchange itself.
final class ApiserverFastStreams: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    let route: ApiserverRoute
    let stats: TunnelStatsBox
    private(set) var context: ChannelHandlerContext?
    private var streams: [HTTP2StreamID: ApiserverFastStream] = [:]
    /// Stream IDs the gateway opens only grow: a HEADERS frame above this one opens a stream.
    private var lastStream = HTTP2StreamID.rootStream
    /// Looks for answers overdue (`ApiserverRoute.responseTimeout`) once a second while
    /// streams are open: cheaper than a timer set and cancelled around every request.
    private var deadlineCheck: RepeatedTask?

    init(route: ApiserverRoute, stats: TunnelStatsBox) {
        self.route = route
        self.stats = stats
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        deadlineCheck?.cancel()
        deadlineCheck = nil
    }

    private func armDeadlineCheck(context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        deadlineCheck = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { task in
            let streams = bound.value
            guard !streams.streams.isEmpty else {
                task.cancel()
                streams.deadlineCheck = nil
                return
            }
            let now = NIODeadline.now()
            for stream in Array(streams.streams.values) { stream.checkDeadline(now: now) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let stream = streams[frame.streamID] {
            // WINDOW_UPDATE and PRIORITY are NIOHTTP2's business; a reset cancels the request.
            if case .rstStream = frame.payload { stream.gatewayLeft() }
            return
        }
        if case .headers(let headers) = frame.payload, frame.streamID > lastStream {
            lastStream = frame.streamID
            if headers.endStream, let received = TunnelHeaders.receivedRequest(headers.headers), received.upgrade == nil {
                let stream = ApiserverFastStream(id: frame.streamID, streams: self)
                streams[frame.streamID] = stream
                stats.streamOpened()
                if deadlineCheck == nil { armDeadlineCheck(context: context) }
                stream.forward(received, on: context.eventLoop)
                return
            }
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let created as NIOHTTP2StreamCreatedEvent where streams[created.streamID] != nil:
            return
        case let closed as StreamClosedEvent where streams[closed.streamID] != nil:
            // Listed until NIOHTTP2 closes the stream, not just until its answer was written: the
            // last frames may wait for the gateway's window, and frames the gateway sends meanwhile
            // (WINDOW_UPDATE) must not reach the multiplexer, which knows no such stream.
            streams.removeValue(forKey: closed.streamID)?.gatewayLeft()  // nothing, if its answer had ended
            stats.streamClosed()
            return
        case let window as NIOHTTP2WindowUpdatedEvent where streams[window.streamID] != nil:
            return
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let streamError = error as? NIOHTTP2Errors.StreamError, let stream = streams[streamError.streamID] {
            stream.gatewayLeft()
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for stream in streams.values {
            stream.gatewayLeft()
            stats.streamClosed()
        }
        streams.removeAll()
        deadlineCheck?.cancel()
        deadlineCheck = nil
        context.fireChannelInactive()
    }

    // MARK: For the streams

    func write(_ frame: HTTP2Frame, promise: EventLoopPromise<Void>? = nil) {
        context?.write(wrapOutboundOut(frame), promise: promise)
    }

    func flush() {
        context?.flush()
    }
}
