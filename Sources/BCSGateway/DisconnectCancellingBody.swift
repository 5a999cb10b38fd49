import NIOCore
import NIOHTTP1
import Synchronization

/// A response body that stops waiting on its upstream when the client goes away.
///
/// Hummingbird notices a client that went away only when it next writes to it. A watch on quiet
/// objects may not write for minutes, so an abandoned `kubectl get -w` would hold its upstream
/// stream (and its room in the cluster's client pool) until the apiserver next sent something —
/// forever, for a watch without `timeoutSeconds`. This cancels the task that is reading the body
/// when the client's connection closes or, on HTTP/1.1, when the client stops sending (end of
/// input: Hummingbird allows half-closure, so the channel itself stays open), which ends the
/// upstream request.
///
/// Use it for long-lived responses: each one adds a handler to the connection's pipeline for as
/// long as it runs.
struct DisconnectCancellingBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let channel: any Channel

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let trigger: Trigger

        mutating func next() async throws -> ByteBuffer? {
            trigger.armOnce()
            return try await base.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), trigger: Trigger(channel: channel)) }

    /// Cancels the reading task when the client goes away, while the iterator that owns it is alive.
    ///
    /// `UnsafeCurrentTask` may only be used while its task runs. The task kept is the one that
    /// called `next()`; it owns the iterator and the iterator this trigger, so it runs at least until
    /// the trigger's `deinit`, which takes the task out under the same lock the watcher's callback uses.
    final class Trigger: Sendable {
        private let channel: any Channel
        private let state = Mutex<(task: UnsafeCurrentTask?, watcher: ClientGoneWatcher?, armed: Bool)>((nil, nil, false))

        init(channel: any Channel) {
            self.channel = channel
        }

        func armOnce() {
            let first = state.withLock { state -> Bool in
                guard !state.armed else { return false }
                state.armed = true
                return true
            }
            guard first else { return }
            withUnsafeCurrentTask { current in
                state.withLock { $0.task = current }
            }
            let channel = self.channel
            channel.eventLoop.execute { [weak self] in
                guard let self else { return }
                // Only an HTTP/1.1 connection's end of input is a goodbye; on an HTTP/2 stream it is the
                // end of the request.
                let isHTTP1 = (try? channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)) != nil
                let watcher = ClientGoneWatcher(countsEndOfInput: isHTTP1) { [weak self] in self?.fire() }
                guard channel.isActive else { return fire() }
                state.withLock { $0.watcher = watcher }
                try? channel.pipeline.syncOperations.addHandler(watcher, position: .first)
            }
        }

        private func fire() {
            state.withLock { state in
                state.task?.cancel()
                state.task = nil
            }
        }

        deinit {
            let watcher = state.withLock { state in
                state.task = nil
                return state.watcher
            }
            if let watcher { channel.pipeline.removeHandler(watcher).whenComplete { _ in } }
        }
    }
}

/// Tells when the client on this connection is gone: the channel went inactive, or (HTTP/1.1) its input ended.
final class ClientGoneWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    let countsEndOfInput: Bool
    let onGone: @Sendable () -> Void

    init(countsEndOfInput: Bool, onGone: @escaping @Sendable () -> Void) {
        self.countsEndOfInput = countsEndOfInput
        self.onGone = onGone
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if countsEndOfInput, case ChannelEvent.inputClosed = event { onGone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        onGone()
        context.fireChannelInactive()
    }
}
