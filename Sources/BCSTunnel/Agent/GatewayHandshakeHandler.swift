import Foundation
import NIOCore

/// Reads the gateway's answer to the tunnel handshake, byte-exact, and hands the connection over.
///
/// The first bytes after a `101` may already be HTTP/2 frames from the gateway (it opens the
/// connection as soon as it has answered), so this handler parses the head itself: on a valid
/// `101` it puts a holding `TunnelActivityHandler` behind itself, passes the rest of the buffer
/// to it and leaves. Any other status is read to its end (Content-Length, close, or 64 KiB)
/// so the refusal's message can be reported.
final class GatewayHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    struct Refusal: Error {
        var status: Int
        var body: String
    }

    private let expectedAccept: String
    private let keepalive: TunnelKeepalive
    private let promise: EventLoopPromise<Accepted>
    private var buffer = ByteBuffer()
    private var refusedStatus: Int?
    private var refusedLength: Int?
    private var done = false
    static let maximumHead = 16 << 10
    static let maximumBody = 64 << 10

    /// A handshake the gateway accepted: the handler holding the connection's first bytes, and the
    /// name of the gateway's event loop serving it, when the gateway sent one.
    struct Accepted: Sendable {
        var activity: NIOLoopBound<TunnelActivityHandler>
        var gatewayLoop: String?
    }

    init(expectedAccept: String, keepalive: TunnelKeepalive, promise: EventLoopPromise<Accepted>) {
        self.expectedAccept = expectedAccept
        self.keepalive = keepalive
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        if let status = refusedStatus {
            if let length = refusedLength, buffer.readableBytes >= length { refuse(context: context, status: status) }
            else if buffer.readableBytes >= Self.maximumBody { refuse(context: context, status: status) }
            return
        }
        let view = buffer.readableBytesView
        guard let end = Self.headEnd(view) else {
            if buffer.readableBytes > Self.maximumHead { finish(context: context, .failure(AgentError.gatewayRefused(status: 0, message: "the gateway's answer has an oversized head"))) }
            return
        }
        let headText = String(decoding: view.prefix(end), as: UTF8.self)
        buffer.moveReaderIndex(forwardBy: end + 4)
        let (status, fields) = Self.parse(headText)
        if status == 101 {
            guard fields["sec-websocket-accept"] == expectedAccept else {
                return finish(context: context, .failure(AgentError.gatewayRefused(status: 101, message: "wrong Sec-WebSocket-Accept: not a BCS tunnel endpoint")))
            }
            guard fields["sec-websocket-protocol"]?.lowercased() == TunnelProtocol.subprotocol else {
                return finish(context: context, .failure(AgentError.gatewayRefused(status: 101, message: "the gateway did not agree to \(TunnelProtocol.subprotocol)")))
            }
            done = true
            let activity = TunnelActivityHandler(liveness: TunnelLiveness(keepalive: keepalive), holding: true)
            do {
                try context.pipeline.syncOperations.addHandler(activity, position: .after(self))
            } catch {
                return finish(context: context, .failure(error))
            }
            let rest = buffer
            buffer = ByteBuffer()
            if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
            promise.succeed(Accepted(activity: NIOLoopBound(activity, eventLoop: context.eventLoop),
                                     gatewayLoop: fields[TunnelProtocol.loopHeader.lowercased()]))
            return
        }
        refusedStatus = status
        refusedLength = fields["content-length"].flatMap(Int.init)
        if let length = refusedLength, buffer.readableBytes >= length { refuse(context: context, status: status) }
    }

    private func refuse(context: ChannelHandlerContext, status: Int) {
        let body = String(decoding: buffer.readableBytesView.prefix(Self.maximumBody), as: UTF8.self)
        let message = AgentError.message(fromBody: body)
        let error: AgentError = status == 401 || message.contains("register token")
            ? .registerTokenRefused("HTTP \(status): \(message)") : .gatewayRefused(status: status, message: message)
        finish(context: context, .failure(error))
    }

    private func finish(context: ChannelHandlerContext, _ result: Result<Never, any Error>) {
        done = true
        if case .failure(let error) = result {
            promise.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let status = refusedStatus, !done { refuse(context: context, status: status) }
        promise.fail(AgentError.gatewayUnreachable("the gateway closed the connection during the tunnel handshake"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    static func headEnd(_ view: ByteBufferView) -> Int? {
        let bytes = Array(view.prefix(maximumHead + 4))
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    /// The status code and the fields (names lowercased, last one wins) of a response head.
    static func parse(_ head: String) -> (Int, [String: String]) {
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        let status = statusParts.count >= 2 ? Int(statusParts[1]) ?? 0 : 0
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, fields)
    }
}
