import NIOCore
import NIOHPACK
import NIOHTTP2

/// A tunnel stream seen from async code: its head, its body, and writes that respect flow control.
///
/// Each write completes once HTTP/2 flow control let the frame out, so a writer awaiting its
/// writes cannot run ahead of the peer's window.
struct TunnelStream: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<TunnelStreamHandler>
    let head: EventLoopFuture<StreamHead>
    let body: TunnelBody

    /// Installs a stream handler in `channel`'s pipeline; call on its event loop.
    static func install(on channel: any Channel, mode: TunnelStreamHandler.Mode, headDecidesMode: Bool) throws -> TunnelStream {
        let handler = TunnelStreamHandler(eventLoop: channel.eventLoop, mode: mode, headDecidesMode: headDecidesMode)
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            handler.abandon(error)
            throw error
        }
        return TunnelStream(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop), head: handler.head, body: handler.body)
    }

    func write(_ payload: HTTP2Frame.FramePayload) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit { handler.value.send(payload) }.get()
    }

    /// Starts a write without waiting for it; the future completes once flow control let it out.
    func startWrite(_ payload: HTTP2Frame.FramePayload) -> EventLoopFuture<Void> {
        let handler = self.handler
        return channel.eventLoop.flatSubmit { handler.value.send(payload) }
    }

    /// Copies `body` into DATA frames, keeping up to `pumpWindow` bytes of writes in flight while
    /// the next chunks are read: backpressured (a write completes once flow control let it out),
    /// without waiting for each chunk's write before reading the next.
    func pump<Body: AsyncSequence>(_ body: Body) async throws where Body.Element == ByteBuffer {
        var inFlight: [(write: EventLoopFuture<Void>, bytes: Int)] = []
        var next = 0
        var outstanding = 0
        for try await chunk in body where chunk.readableBytes > 0 {
            inFlight.append((startWrite(.data(.init(data: .byteBuffer(chunk)))), chunk.readableBytes))
            outstanding += chunk.readableBytes
            while outstanding > Self.pumpWindow, next < inFlight.count {
                try await inFlight[next].write.get()
                outstanding -= inFlight[next].bytes
                next += 1
            }
            if next > 64 {
                inFlight.removeFirst(next)
                next = 0
            }
        }
        for entry in inFlight[next...] { try await entry.write.get() }
    }

    /// Bytes of DATA a pump may have written but not yet seen leave.
    static let pumpWindow = 1 << 20

    func writeHeaders(_ headers: HPACKHeaders, endStream: Bool = false) async throws {
        try await write(.headers(.init(headers: headers, endStream: endStream)))
    }

    /// A whole small response in one hop to the event loop and one flush.
    func writeWhole(_ headers: HPACKHeaders, body: ByteBuffer) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit { handler.value.sendWhole(headers, body: body) }.get()
    }

    func writeData(_ buffer: ByteBuffer, endStream: Bool = false) async throws {
        try await write(.data(.init(data: .byteBuffer(buffer), endStream: endStream)))
    }

    func switchToRaw() async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.switchToRaw() }.get()
    }

    func switchToMessage() async throws {
        let handler = self.handler
        try await channel.eventLoop.submit { handler.value.switchToMessage() }.get()
    }

    /// The peer's head; cancelling the waiting task resets the stream (the caller gave up).
    func awaitHead() async throws -> StreamHead {
        try await withTaskCancellationHandler {
            try await head.get()
        } onCancel: {
            reset()
        }
    }

    /// Resets the stream (RST_STREAM CANCEL) unless it already closed.
    func reset() {
        channel.close(promise: nil)
    }
}
