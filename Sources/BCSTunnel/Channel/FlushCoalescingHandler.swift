import NIOCore

/// Turns the flushes a tunnel connection receives during one event-loop tick into one.
///
/// Every stream that answers flushes, and each flush of a stream becomes a flush of the
/// connection: a system call (and a TLS record) per response. Answers that become ready in the
/// same tick (several apiserver connections readable at once, several client requests read in one
/// batch) now leave in one write, after the tick's I/O; the delay is that of a queued task.
final class FlushCoalescingHandler: ChannelOutboundHandler {
    typealias OutboundIn = IOData

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            guard flushScheduled else { return }
            flushScheduled = false
            context.flush()
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // What was written before a close (a GOAWAY, a last frame) still goes out.
        if flushScheduled {
            flushScheduled = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
