import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2

/// A response relayed through the tunnel: the apiserver's head and its body, backpressured per stream.
public struct TunnelResponse: Sendable {
    public var head: HTTPResponse
    public var body: TunnelBody
}

/// The outcome of an upgrade (exec, attach, port-forward) through the tunnel.
public enum TunnelUpgradeResult: Sendable {
    /// The apiserver switched protocols. The channel reads and writes `ByteBuffer`; its input
    /// closing (`ChannelEvent.inputClosed`) is the agent's END_STREAM, and `close(mode: .output)`
    /// half-closes towards the apiserver. The head is a `101` with `Connection`/`Upgrade` restored.
    /// Install your handlers (a splice), then call `read()`: bytes that came with the 101 are
    /// delivered on that first read, so none is lost before the splice exists.
    case switched(HTTPResponse, any Channel)
    /// The apiserver answered without switching; pass head and body to the client verbatim.
    case refused(HTTPResponse, ByteBuffer)
}

/// One agent's tunnel as the gateway uses it: each request is an HTTP/2 stream the gateway opens.
///
/// The gateway is the HTTP/2 client on a connection the agent dialled (roles reversed after the
/// handshake). Streams are independent: each has its own flow-control window, so a body nobody
/// reads stalls only its own stream. The session ends when the connection closes — the agent
/// went away, a keepalive found it silent for 15 s, or `close()` was called — and every open
/// stream fails then.
public final class TunnelSession: Sendable, Identifiable {
    public let id: UUID
    public let clusterID: String
    /// The Params the agent sent (its apiserver address and CA; never a secret).
    public let params: TunnelParams
    let channel: any Channel
    /// Streams with a body or an upgrade: a stream channel each.
    let multiplexer: HTTP2StreamMultiplexer.SendableView
    /// Bodiless requests, and the numbering of every stream.
    let clientStreams: NIOLoopBound<TunnelClientStreams>
    let statsBox: TunnelStatsBox

    init(clusterID: String, params: TunnelParams, channel: any Channel, streams: GatewayTunnelStreams, stats: TunnelStatsBox) {
        self.id = UUID()
        self.clusterID = clusterID
        self.params = params
        self.channel = channel
        self.multiplexer = streams.multiplexer
        self.clientStreams = streams.clientStreams
        self.statsBox = stats
    }

    /// Since when, the last PING ACK, the RTT and the streams open now.
    public var stats: TunnelStats { statsBox.value }

    /// Whether the connection is still up.
    public var isActive: Bool { channel.isActive }

    /// The event loop serving the connection.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Closes the connection; open streams fail.
    public func close() {
        channel.close(promise: nil)
    }

    /// Returns once the session has ended; cancelling the waiting task closes the session.
    public func closed() async {
        let channel = self.channel
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Sends a request without a body.
    public func send(_ head: HTTPRequest) async throws -> TunnelResponse {
        try await send(head, body: nil as TunnelBody?)
    }

    /// Sends a request to the agent's apiserver and returns its response head and streaming body.
    ///
    /// `head.path` carries the apiserver path with its query; `Authorization` and hop-by-hop fields
    /// are not sent (the agent authenticates itself). The request body is sent in full, with flow
    /// control, before the response head is awaited.
    public func send(_ head: HTTPRequest, body: (some AsyncSequence<ByteBuffer, any Error> & Sendable)?) async throws -> TunnelResponse {
        let block = TunnelHeaders.requestBlock(head, upgrade: nil)
        let stream = try await openStream(mode: .message, headers: block, endStream: body == nil)
        do {
            if let body {
                try await stream.pump(body)
                try await stream.writeData(ByteBuffer(), endStream: true)
            }
            let responseHead = try await stream.awaitHead()
            guard let response = TunnelHeaders.response(responseHead.headers) else { throw TunnelError.malformedHead }
            return TunnelResponse(head: response, body: stream.body)
        } catch {
            stream.reset()
            throw body == nil && wasNotProcessed(error) ? TunnelError.sessionDraining : error
        }
    }

    /// Whether a stream that failed before its answer's head was refused unprocessed by an agent
    /// retiring the session: NIOHTTP2 refuses every new stream once it has sent GOAWAY
    /// (REFUSED_STREAM, "not processed", RFC 9113 §8.7), and the agent closes a draining session
    /// only when no stream is open on it. Such a request can be sent again on another session.
    private func wasNotProcessed(_ error: any Error) -> Bool {
        switch error as? TunnelError {
        case .streamReset(.refusedStream)?: return true
        case .sessionClosed?: return statsBox.value.draining
        default: return false
        }
    }

    /// Forwards an upgrade request (it must carry `Upgrade`) and reports whether the apiserver switched.
    public func upgrade(_ head: HTTPRequest, refusedBodyLimit: Int = 1 << 20) async throws -> TunnelUpgradeResult {
        guard let upgrade = head.headerFields[.upgrade], !upgrade.isEmpty else { throw TunnelError.notAnUpgrade }
        let stream = try await openStream(mode: .stash, headers: TunnelHeaders.requestBlock(head, upgrade: upgrade), endStream: false)
        do {
            let responseHead = try await stream.awaitHead()
            guard var response = TunnelHeaders.response(responseHead.headers) else { throw TunnelError.malformedHead }
            let tunnelStatus = responseHead.headers.first(name: TunnelProtocol.statusHeader)
            if response.status.code == 200, tunnelStatus == "101" {
                let upgraded = responseHead.headers.first(name: TunnelProtocol.upgradeHeader) ?? upgrade
                response.status = .switchingProtocols
                response.headerFields[.connection] = "Upgrade"
                response.headerFields[.upgrade] = upgraded
                try await stream.switchToRaw()
                return .switched(response, stream.channel)
            }
            try await stream.switchToMessage()
            let body = try await stream.body.collect(upTo: refusedBodyLimit)
            return .refused(response, body)
        } catch {
            stream.reset()
            throw wasNotProcessed(error) ? TunnelError.sessionDraining : error
        }
    }

    /// Opens a stream and sends its request headers from the stream's initializer (no extra hop).
    private func openStream(mode: TunnelStreamHandler.Mode, headers: HPACKHeaders, endStream: Bool) async throws -> TunnelStream {
        guard channel.isActive else { throw TunnelError.sessionClosed }
        let promise = channel.eventLoop.makePromise(of: TunnelStream.self)
        let stats = statsBox
        let clientStreams = self.clientStreams
        let channelPromise = channel.eventLoop.makePromise(of: (any Channel).self)
        multiplexer.createStreamChannel(promise: channelPromise) { streamChannel in
            streamChannel.eventLoop.makeCompletedFuture {
                // Before any frame: the stream never opens (see `TunnelClientStreams.peerSentGoAway`).
                guard !clientStreams.value.peerSentGoAway else { throw TunnelError.sessionDraining }
                let stream = try TunnelStream.install(on: streamChannel, mode: mode, headDecidesMode: false)
                stats.streamOpened()
                streamChannel.closeFuture.whenComplete { _ in stats.streamClosed() }
                // A failed write resets the stream, which fails the head the caller awaits.
                _ = stream.handler.value.send(.headers(.init(headers: headers, endStream: endStream)))
                promise.succeed(stream)
            }
        }
        channelPromise.futureResult.whenFailure { promise.fail($0) }
        do {
            return try await promise.futureResult.get()
        } catch TunnelError.sessionDraining {
            throw TunnelError.sessionDraining
        } catch {
            throw channel.isActive ? error : TunnelError.sessionClosed
        }
    }
}
