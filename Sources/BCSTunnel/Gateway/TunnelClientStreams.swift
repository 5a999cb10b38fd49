import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// The gateway's end of a tunnel connection: numbers every stream the gateway opens, and serves
/// the bodiless requests (`TunnelRelayStream`) from the connection's frames, without a stream channel.
///
/// Sits between the HTTP/2 handler and NIOHTTP2's stream multiplexer. The multiplexer still makes
/// a stream channel for a request with a body and for an upgrade, but it numbers its streams by
/// its own count, which knows nothing of the relay streams opened here: so the IDs on the wire are
/// given out here, in the order streams open, and the multiplexer's are translated both ways.
/// Why: a stream channel with its pipeline, made and torn down for each `get`, was the largest
/// part of the gateway's CPU per tunnelled request.
final class TunnelClientStreams: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// One relay stream: the receiver of its answer, and what it has heard since the last read ended.
    private final class Relay {
        let receiver: NIOLoopBound<TunnelAnswerRelay>
        var pending: [TunnelAnswerRelay.Event] = []
        var headReceived = false
        var ended = false

        init(receiver: NIOLoopBound<TunnelAnswerRelay>) {
            self.receiver = receiver
        }
    }

    private let stats: TunnelStatsBox
    private var context: ChannelHandlerContext?
    /// Client streams are odd and only grow, in the order their HEADERS go out.
    private var nextWireID = HTTP2StreamID(1)
    private var wireIDs: [HTTP2StreamID: HTTP2StreamID] = [:]  // the multiplexer's → the wire's
    private var multiplexerIDs: [HTTP2StreamID: HTTP2StreamID] = [:]  // the wire's → the multiplexer's
    private var relays: [HTTP2StreamID: Relay] = [:]
    /// Relay streams with events to hand over at the end of this read.
    private var heard: [HTTP2StreamID] = []

    init(stats: TunnelStatsBox) {
        self.stats = stats
    }

    /// The agent sent GOAWAY (it retires the session): a new stream would be a connection error
    /// (RFC 9113 §6.8) that ends the streams still open, so none is opened. The pool stops choosing
    /// the session when it sees the GOAWAY too; this covers a request that chose it just before.
    private(set) var peerSentGoAway = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: Relay streams (called on the connection's loop)

    /// Sends a bodiless request on a new stream; the receiver hears its answer. False when the
    /// connection is gone.
    func openRelay(headers: HPACKHeaders, receiver: NIOLoopBound<TunnelAnswerRelay>) -> HTTP2StreamID? {
        guard let context, context.channel.isActive, !peerSentGoAway else { return nil }
        let id = allocateWireID()
        relays[id] = Relay(receiver: receiver)
        stats.streamOpened()
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [self] _ in closeRelay(id) }  // e.g. the connection closing meanwhile
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers, endStream: true)))), promise: written)
        return id
    }

    /// Lets the agent send `bytes` more of a relay stream's answer: its receiver took them.
    func credit(_ id: HTTP2StreamID, bytes: Int) {
        guard let context, relays[id] != nil, bytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: bytes))), promise: nil)
    }

    /// Cancels a relay stream whose receiver left.
    func reset(_ id: HTTP2StreamID) {
        guard let context, let relay = relays.removeValue(forKey: id) else { return }
        relay.ended = true
        stats.streamClosed()
        // Its late frames find no stream here and are dropped (and NIOHTTP2 remembers the reset).
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
    }

    private func allocateWireID() -> HTTP2StreamID {
        let id = nextWireID
        nextWireID = HTTP2StreamID(Int32(id) + 2)
        return id
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        if frame.streamID == .rootStream {
            if case .goAway = frame.payload { peerSentGoAway = true }
            context.fireChannelRead(data)
        } else if let relay = relays[frame.streamID] {
            receive(frame, for: relay, id: frame.streamID)
        } else if let id = multiplexerIDs[frame.streamID] {
            frame.streamID = id
            context.fireChannelRead(wrapInboundOut(frame))
        }
        // Otherwise a late frame of a stream that has ended here: nobody wants it.
    }

    private func receive(_ frame: HTTP2Frame, for relay: Relay, id: HTTP2StreamID) {
        guard !relay.ended else { return }
        let before = relay.pending.count
        switch frame.payload {
        case .headers(let headers):
            if !relay.headReceived {
                guard let head = Self.responseHead(headers.headers) else {
                    reset(id)  // not an answer: the receiver hears the stream closed
                    deliver(relay, .closed)
                    return
                }
                if head.status.code < 200 { return }  // interim answers are not relayed
                relay.headReceived = true
                relay.pending.append(.head(head))
            }
            if headers.endStream { finish(relay) }
        case .data(let data):
            if case .byteBuffer(let buffer) = data.data, buffer.readableBytes > 0 { relay.pending.append(.body(buffer)) }
            if data.endStream { finish(relay) }
        default:
            break  // RST_STREAM arrives as StreamClosedEvent; WINDOW_UPDATE is NIOHTTP2's business
        }
        if before == 0, !relay.pending.isEmpty { heard.append(id) }
    }

    private func finish(_ relay: Relay) {
        guard relay.headReceived else { return }
        relay.ended = true
        relay.pending.append(.end)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        let ids = heard
        heard.removeAll(keepingCapacity: true)
        for id in ids {
            guard let relay = relays[id], !relay.pending.isEmpty else { continue }
            if !relay.ended { relay.pending.append(.readComplete) }
            hand(relay)
        }
        context.fireChannelReadComplete()
    }

    /// Sends what a relay heard to its receiver's loop, in one hop.
    private func hand(_ relay: Relay) {
        let events = relay.pending
        relay.pending = []
        let receiver = relay.receiver
        if receiver.eventLoop.inEventLoop {
            receiver.value.deliver(events)
        } else {
            receiver.eventLoop.execute { receiver.value.deliver(events) }
        }
    }

    /// Hands over what is pending and then `event`, now (outside a read).
    private func deliver(_ relay: Relay, _ event: TunnelAnswerRelay.Event) {
        relay.pending.append(event)
        hand(relay)
    }

    private func closeRelay(_ id: HTTP2StreamID) {
        guard let relay = relays.removeValue(forKey: id) else { return }
        stats.streamClosed()
        if !relay.ended {
            relay.ended = true
            deliver(relay, .closed)
        } else if !relay.pending.isEmpty {
            hand(relay)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let created as NIOHTTP2StreamCreatedEvent where created.streamID != .rootStream:
            guard let id = multiplexerIDs[created.streamID] else { return }
            context.fireUserInboundEventTriggered(NIOHTTP2StreamCreatedEvent(
                streamID: id, localInitialWindowSize: created.localInitialWindowSize, remoteInitialWindowSize: created.remoteInitialWindowSize))
        case let closed as StreamClosedEvent:
            if relays[closed.streamID] != nil {
                // The answer's end came before, in the same read: the receiver has it already (or now).
                closeRelay(closed.streamID)
            } else if let id = multiplexerIDs.removeValue(forKey: closed.streamID) {
                wireIDs.removeValue(forKey: id)
                context.fireUserInboundEventTriggered(StreamClosedEvent(streamID: id, reason: closed.reason))
            }
        case let window as NIOHTTP2WindowUpdatedEvent where window.streamID != .rootStream:
            guard let id = multiplexerIDs[window.streamID] else { return }
            context.fireUserInboundEventTriggered(NIOHTTP2WindowUpdatedEvent(
                streamID: id, inboundWindowSize: window.inboundWindowSize, outboundWindowSize: window.outboundWindowSize))
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let streamError = error as? NIOHTTP2Errors.StreamError else {
            context.fireErrorCaught(error)
            return
        }
        if relays[streamError.streamID] != nil {
            closeRelay(streamError.streamID)  // NIOHTTP2 has reset the stream
        } else if let id = multiplexerIDs[streamError.streamID] {
            context.fireErrorCaught(NIOHTTP2Errors.streamError(streamID: id, baseError: streamError.baseError))
        }
        // A stream that has ended here: nothing to tell anyone.
    }

    func channelInactive(context: ChannelHandlerContext) {
        for id in Array(relays.keys) { closeRelay(id) }
        context.fireChannelInactive()
    }

    // MARK: Outbound (the multiplexer's streams)

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var frame = unwrapOutboundIn(data)
        guard frame.streamID != .rootStream else {
            context.write(data, promise: promise)
            return
        }
        if let id = wireIDs[frame.streamID] {
            frame.streamID = id
        } else if case .headers = frame.payload {
            // A new stream of the multiplexer's: it takes the next ID on the wire.
            let id = allocateWireID()
            wireIDs[frame.streamID] = id
            multiplexerIDs[id] = frame.streamID
            frame.streamID = id
        } else {
            // A stream that has closed (a late WINDOW_UPDATE or reset of its channel).
            promise?.fail(NIOHTTP2Errors.noSuchStream(streamID: frame.streamID))
            return
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    // MARK: Answers

    /// The HTTP/1.1 head of an answer's header block; nil without a numeric `:status`.
    static func responseHead(_ block: HPACKHeaders) -> HTTPResponseHead? {
        guard let text = block.first(name: ":status"), let code = Int(text), (100...999).contains(code) else { return nil }
        var headers = HTTPHeaders()
        headers.reserveCapacity(block.count)
        for (name, value, _) in block where !name.hasPrefix(":") { headers.add(name: name, value: value) }
        return HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers)
    }
}
