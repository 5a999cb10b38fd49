import NIOCore

/// Flushes the tunnel connection once per event-loop tick rather than once per stream.
///
/// Each stream flushes its own frames, and on the shared connection every flush was a write
/// system call: a tunnel carrying 32 concurrent GETs made one write per answer on the agent and one
/// per request on the gateway, although the event loop had handled several streams in the same
/// tick. Deferring the flush to the end of the tick (NIO runs queued tasks after the tick's I/O
/// events) sends the frames of all of them in one write. An `execute` from the loop itself does not
/// wake the selector, so the deferral costs one queued closure per tick, and a frame waits at most
/// until the tick ends.
final class TunnelFlushCoalescer: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var flushQueued = false

    func flush(context: ChannelHandlerContext) {
        guard !flushQueued else { return }
        flushQueued = true
        context.eventLoop.assumeIsolated().execute {
            self.flushQueued = false
            context.flush()
        }
    }

    /// Frames written before a close (a GOAWAY, a last RST_STREAM) still leave first.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushQueued {
            flushQueued = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}
