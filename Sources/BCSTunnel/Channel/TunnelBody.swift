import NIOCore

/// The body of one tunnel stream: DATA payloads as they arrive, backpressured per stream.
///
/// While the consumer does not ask for more, the stream stops reading; its HTTP/2 window then
/// stays closed so the peer stops sending on this stream only. Dropping the body before its end
/// resets the stream (the peer's apiserver request is cancelled).
public struct TunnelBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, TunnelBodyDelegate
    >

    let producer: Producer

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Producer.AsyncIterator
        public mutating func next() async throws -> ByteBuffer? { try await inner.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: producer.makeAsyncIterator()) }

    /// Collects the whole body, failing beyond `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await var chunk in self {
            guard result.readableBytes + chunk.readableBytes <= limit else { throw TunnelError.bodyTooLarge(limit) }
            result.writeBuffer(&chunk)
        }
        return result
    }
}

/// Tells the stream's handler, on its event loop, that the consumer wants more or is gone.
struct TunnelBodyDelegate: NIOAsyncSequenceProducerDelegate {
    let eventLoop: any EventLoop
    let handler: NIOLoopBound<WeakStreamHandler>

    func produceMore() {
        let handler = self.handler
        eventLoop.execute { handler.value.handler?.produceMore() }
    }

    func didTerminate() {
        let handler = self.handler
        eventLoop.execute { handler.value.handler?.bodyTerminated() }
    }
}

/// A weak reference, so the body's delegate does not keep a closed stream's handler alive.
final class WeakStreamHandler {
    weak var handler: TunnelStreamHandler?
    init(_ handler: TunnelStreamHandler) { self.handler = handler }
}
