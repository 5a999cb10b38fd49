import NIOCore
import NIOHTTP1

/// What a watch connection hands to its reader: the stream opened, a batch of events, or why it ended.
enum WatchChunk: Sendable {
    case opened
    case events([KubeWatchEvent])
    case failed(any Error)
}

/// Why a watch connection ended early (other than an apiserver answer, which is a `KubeAPIError`).
public struct KubeWatchTransportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Turns the HTTP answer to a `watch=1` request into batches of decoded events, on the event loop.
///
/// Lines are split and decoded here, where the bytes arrive; decoded events are handed on in batches
/// rather than one by one, each batch waiting at most `linger` (or until `batchLimit` events), so the
/// reader task wakes once per batch instead of once per event (an apiserver flushes every event).
/// A line longer than `maximumLineBytes` ends the watch rather than buffering without bound. A
/// non-200 answer becomes `KubeAPIError` (its body read up to 64 KiB); the stream ends at the
/// response's end, at an error, or at `deadline` — then the channel closes.
final class WatchLineDecoder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = WatchChunk

    private let maximumLineBytes: Int
    private let linger: TimeAmount
    private let batchLimit: Int
    private let deadline: TimeAmount
    private var status: HTTPResponseStatus?
    private var partial = ByteBuffer()
    private var errorBody = ByteBuffer()
    private var pending: [KubeWatchEvent] = []
    private var flushTask: Scheduled<Void>?
    private var deadlineTask: Scheduled<Void>?
    private var finished = false

    init(maximumLineBytes: Int, deadline: TimeAmount, linger: TimeAmount = .milliseconds(5), batchLimit: Int = 256) {
        self.maximumLineBytes = maximumLineBytes
        self.deadline = deadline
        self.linger = linger
        self.batchLimit = batchLimit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        deadlineTask = context.eventLoop.assumeIsolated().scheduleTask(in: deadline) { [weak self] in
            self?.fail(KubeWatchTransportError("the watch ran past its deadline without the apiserver ending it"), context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlineTask?.cancel()
        flushTask?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            if head.status == .ok {
                context.fireChannelRead(wrapInboundOut(.opened))
            }
        case .body(var body):
            guard status == .ok else {
                if errorBody.readableBytes < 64 << 10 { errorBody.writeBuffer(&body) }
                return
            }
            split(&body, context: context)
        case .end:
            if let status, status != .ok {
                fail(KubeAPIError(status: Int(status.code), body: errorBody), context: context)
                return
            }
            deliver(context: context)
            finished = true
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pending.count >= batchLimit {
            deliver(context: context)
        } else if !pending.isEmpty, flushTask == nil {
            flushTask = context.eventLoop.assumeIsolated().scheduleTask(in: linger) { [weak self] in
                self?.flushTask = nil
                self?.deliver(context: context)
            }
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished {
            fail(KubeWatchTransportError("the apiserver closed the watch connection"), context: context)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }

    /// Cuts complete lines out of `body` (without copying when no line was left over) and decodes them.
    private func split(_ body: inout ByteBuffer, context: ChannelHandlerContext) {
        while let newline = body.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - body.readerIndex
            guard var piece = body.readSlice(length: length) else { break }
            body.moveReaderIndex(forwardBy: 1)
            let line: ByteBuffer
            if partial.readableBytes > 0 {
                partial.writeBuffer(&piece)
                line = partial
                partial = ByteBuffer()
            } else {
                line = piece
            }
            guard line.readableBytes <= maximumLineBytes else { return tooLong(context: context) }
            if line.readableBytesView.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            do {
                pending.append(try KubeWatchStream.decode(line))
            } catch {
                return fail(error, context: context)
            }
        }
        if body.readableBytes > 0 {
            guard partial.readableBytes + body.readableBytes <= maximumLineBytes else { return tooLong(context: context) }
            partial.writeBuffer(&body)
        }
    }

    private func tooLong(context: ChannelHandlerContext) {
        fail(KubeAPIError(status: 200, reason: "LineTooLong", message: "a watch line is longer than \(maximumLineBytes) bytes"), context: context)
    }

    private func deliver(context: ChannelHandlerContext) {
        flushTask?.cancel()
        flushTask = nil
        guard !pending.isEmpty, !finished else { return }
        let batch = pending
        pending = []
        context.fireChannelRead(wrapInboundOut(.events(batch)))
        context.fireChannelReadComplete()
    }

    /// Hands on what was decoded, then the error, and closes the connection; only the first ending counts.
    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        guard !finished else { return }
        deliver(context: context)
        finished = true
        context.fireChannelRead(wrapInboundOut(.failed(error)))
        context.fireChannelReadComplete()
        context.close(promise: nil)
    }
}
