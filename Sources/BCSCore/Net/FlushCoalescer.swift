import NIOCore

/// Flushes a multiplexed connection once per event-loop tick rather than once per stream.
///
/// On an HTTP/2 connection (the agent tunnel, a kubectl connection to the gateway) every stream
/// flushes its own frames, and each flush was a write system call on the shared socket — under
/// TLS also a record of its own. A tunnel carrying 32 concurrent GETs made one write per answer on
/// the agent and one per request on the gateway, although the event loop had handled several
/// streams in the same tick. Deferring the flush to the end of the tick (NIO runs queued tasks after
/// the tick's I/O events) sends the frames of all of them in one write. An `execute` from the loop
/// itself does not wake the selector, so the deferral costs one queued closure per tick, and a
/// frame waits at most until the tick ends.
///
/// Place it between the socket (or TLS) and the HTTP/2 handler.
public final class FlushCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = IOData
    public typealias OutboundOut = IOData

    private var flushQueued = false

    public init() {}

    public func flush(context: ChannelHandlerContext) {
        guard !flushQueued else { return }
        flushQueued = true
        context.eventLoop.assumeIsolated().execute {
            self.flushQueued = false
            context.flush()
        }
    }

    /// Frames written before a close (a GOAWAY, a last RST_STREAM) still leave first.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if flushQueued {
            flushQueued = false
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Puts a `FlushCoalescer` in front of the HTTP/2 handler of this connection, once.
    ///
    /// For pipelines set up by a library (Hummingbird's HTTP/2 connections) that offers no hook for
    /// the connection's own handlers: a stream's handler calls this on its parent channel.
    public func addFlushCoalescer<HTTP2Handler: ChannelHandler>(before http2: HTTP2Handler.Type) throws {
        guard (try? context(handlerType: FlushCoalescer.self)) == nil else { return }
        let http2Context = try context(handlerType: http2)
        try addHandler(FlushCoalescer(), position: .before(http2Context.handler))
    }
}
