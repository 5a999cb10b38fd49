import Foundation
import NIOCore

/// Reads the apiserver's answer to an upgrade request byte-exact, and keeps what follows a `101`.
///
/// A short `exec` answers with the 101, its whole output and the close in one burst, before the
/// splice exists. A general HTTP decoder would hold those bytes in its own buffer and lose them if
/// the connection closed first; this handler keeps every byte after the head (and whether the input
/// ended) until `handOver` passes them to the handler behind it, and reads no more until then. Any
/// other status is read to its end (Content-Length, chunked, or close) and reported as a refusal.
final class UpgradeResponseReader: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer

    struct Head: Sendable {
        var status: Int
        var fields: [(name: String, value: String)]
        func first(_ name: String) -> String? { fields.first { $0.name.lowercased() == name }?.value }
    }

    enum Outcome: Sendable {
        case switched(Head)
        case refused(Head, ByteBuffer)
    }

    private enum State {
        case head
        case body(Head, contentLength: Int?, chunked: Bool)
        case switched
        case done
    }

    private let promise: EventLoopPromise<Outcome>
    private var state = State.head
    private var buffer = ByteBuffer()
    private var inputEnded = false
    private var pendingRead = false
    static let maximumHead = 64 << 10
    static let maximumBody = 1 << 20

    init(promise: EventLoopPromise<Outcome>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        process(context: context)
    }

    private func process(context: ChannelHandlerContext) {
        switch state {
        case .head:
            guard let end = GatewayHandshakeHandler.headEnd(buffer.readableBytesView) else {
                if buffer.readableBytes > Self.maximumHead || inputEnded { fail(context: context, "the apiserver's answer has no complete head") }
                return
            }
            let text = String(decoding: buffer.readableBytesView.prefix(end), as: UTF8.self)
            buffer.moveReaderIndex(forwardBy: end + 4)
            let head = Self.parseHead(text)
            if head.status == 101 {
                state = .switched
                promise.succeed(.switched(head))
                return
            }
            let chunked = head.first("transfer-encoding")?.lowercased().contains("chunked") ?? false
            state = .body(head, contentLength: chunked ? nil : head.first("content-length").flatMap(Int.init), chunked: chunked)
            process(context: context)
        case .body(let head, let length, let chunked):
            if chunked {
                if let body = Self.dechunk(buffer) { finish(head, body) } else if inputEnded || buffer.readableBytes > Self.maximumBody { finish(head, buffer) }
            } else if let length {
                if buffer.readableBytes >= length || inputEnded { finish(head, buffer.getSlice(at: buffer.readerIndex, length: min(length, buffer.readableBytes)) ?? ByteBuffer()) }
            } else if inputEnded || buffer.readableBytes > Self.maximumBody {
                finish(head, buffer)
            }
        case .switched, .done:
            break
        }
    }

    private func finish(_ head: Head, _ body: ByteBuffer) {
        state = .done
        promise.succeed(.refused(head, body))
    }

    private func fail(context: ChannelHandlerContext, _ message: String) {
        state = .done
        promise.fail(AgentError.gatewayUnreachable(message))
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            inputEnded = true
            process(context: context)
            if case .switched = state { return }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inputEnded = true
        process(context: context)
        promise.fail(AgentError.gatewayUnreachable("the apiserver closed the connection before answering the upgrade"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        // After the 101 nothing more is read until the splice is in place and asks.
        if case .switched = state { pendingRead = true } else { context.read() }
    }

    /// Passes the bytes after the 101 (and a seen end of input) to the next handler, then leaves.
    func handOver(context: ChannelHandlerContext) {
        state = .done
        let rest = buffer
        buffer = ByteBuffer()
        if rest.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(rest))
            context.fireChannelReadComplete()
        }
        if inputEnded, context.channel.isActive { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The status and fields of a response head, in order (duplicates kept).
    static func parseHead(_ text: String) -> Head {
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let parts = lines.first?.split(separator: " ") ?? []
        let status = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
        var fields: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((line[..<colon].trimmingCharacters(in: .whitespaces), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return Head(status: status, fields: fields)
    }

    /// The body of a complete chunked encoding; nil while incomplete.
    static func dechunk(_ input: ByteBuffer) -> ByteBuffer? {
        var source = input
        var body = ByteBuffer()
        while true {
            let view = source.readableBytesView
            guard let lineEnd = view.firstIndex(of: UInt8(ascii: "\r")), lineEnd + 1 < view.endIndex else { return nil }
            let sizeText = String(decoding: view[view.startIndex..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return body }
            source.moveReaderIndex(forwardBy: lineEnd - view.startIndex + 2)
            if size == 0 { return body }
            guard source.readableBytes >= size + 2, var chunk = source.readSlice(length: size) else { return nil }
            body.writeBuffer(&chunk)
            source.moveReaderIndex(forwardBy: 2)
        }
    }

    /// The HTTP/1.1 request text of an upgrade.
    static func requestText(method: String, path: String, fields: [(String, String)]) -> String {
        var lines = ["\(method) \(path) HTTP/1.1"]
        for (name, value) in fields where !name.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" }) {
            var clean = String.UnicodeScalarView()
            clean.append(contentsOf: value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })
            lines.append("\(name): \(String(clean))")
        }
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }
}
