import BCSKube
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// The per-loop keep-alive pool against a real HTTP/1.1 server on a socket.
@Suite struct UpstreamConnectionPoolTests {
    @Test func reusesAConnectionAndClosesItWhenIdleTooLong() async throws {
        let server = try await CountingServer.start()
        defer { server.stop() }
        // Margins wide enough for a loaded machine: an exchange here can take 100 ms under load.
        let pools = UpstreamConnectionPools(idleTimeout: .seconds(1), sweepInterval: .milliseconds(100))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        func idle() async throws -> Int { try await loop.submit { pools.pool(on: loop).idleConnections }.get() }
        /// Waits (up to 5 s) for the pool to hold no idle connection and the server to see them closed.
        func drained() async throws -> Bool {
            for _ in 0..<100 {
                if try await idle() == 0, server.open == 0 { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }

        #expect(try await exchange(pools, loop, port: server.port, dial: true) == 200)
        #expect(try await idle() == 1)
        // The second request takes the pooled connection: the server saw one connection only.
        #expect(try await exchange(pools, loop, port: server.port, dial: false) == 200)
        #expect(server.accepted == 1)
        #expect(server.requests == 2)

        // Unused for longer than the idle timeout, it is closed by the sweep and leaves the pool.
        let clock = ContinuousClock()
        let lastUse = clock.now
        #expect(try await drained())
        #expect(clock.now - lastUse >= .milliseconds(900), "not closed before its idle timeout")

        // Two idle connections of different ages: the sweep that closes the older one still comes
        // back for the younger.
        #expect(try await exchange(pools, loop, port: server.port, dial: true) == 200)
        #expect(try await exchange(pools, loop, port: server.port, dial: true) == 200)
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await exchange(pools, loop, port: server.port, dial: false) == 200)  // renews the newer one
        #expect(try await idle() == 2)
        #expect(try await drained())
    }

    @Test func aConnectionTheServerClosesLeavesThePool() async throws {
        let server = try await CountingServer.start()
        defer { server.stop() }
        let pools = UpstreamConnectionPools()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        #expect(try await exchange(pools, loop, port: server.port, dial: true) == 200)
        #expect(try await loop.submit { pools.pool(on: loop).idleConnections }.get() == 1)
        server.closeConnections()
        var idle = 1
        for _ in 0..<50 where idle > 0 {
            try await Task.sleep(for: .milliseconds(20))
            idle = try await loop.submit { pools.pool(on: loop).idleConnections }.get()
        }
        #expect(idle == 0)
        #expect(try await loop.submit { pools.pool(on: loop).take(generation: 0) == nil }.get())
    }

    /// A method, target or field with a control byte could end the head early and smuggle a second
    /// request: such a head is not sent, its connection closes, and the receiver hears so at once
    /// (on a connection just dialled, too, which closes before it was ever active).
    @Test func aHeadWithAControlByteIsNotSent() async throws {
        let server = try await CountingServer.start()
        defer { server.stop() }
        let pools = UpstreamConnectionPools()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let heads = [("GET", "/x", "ok"), ("GET /admin HTTP/1.1\r\nX:", "/x", "ok"), ("GET", "/x HTTP/1.1\r\nX: y", "ok"), ("GET", "/x", "a\r\n\r\nGET /admin HTTP/1.1")]
        var outcomes: [String] = []
        for (method, target, value) in heads {
            let done = loop.makePromise(of: Int.self)
            try await loop.flatSubmit { () -> EventLoopFuture<Void> in
                let pool = pools.pool(on: loop)
                return pool.connect(host: "127.0.0.1", port: server.port, tls: nil).assumeIsolated().flatMapThrowing { channel in
                    let connection = try pool.adopt(channel, generation: 0)
                    connection.send(method: method, target: target, fields: [(name: "Host", value: "test"), (name: "X-Test", value: value)],
                                    to: Receiver(done: done) {})
                }.nonisolated()
            }.get()
            outcomes.append((try? await done.futureResult.get()).map(String.init) ?? "closed")
        }
        #expect(outcomes == ["200", "closed", "closed", "closed"])
        #expect(server.requests == 1, "the server saw only the well-formed request")
    }

    /// One GET on a pooled connection (or a new one when `dial`), put back when it ends; the status.
    private func exchange(_ pools: UpstreamConnectionPools, _ loop: any EventLoop, port: Int, dial: Bool) async throws -> Int {
        let done = loop.makePromise(of: Int.self)
        try await loop.flatSubmit { () -> EventLoopFuture<Void> in
            let pool = pools.pool(on: loop)
            let send = { (connection: UpstreamConnection) in
                let receiver = Receiver(done: done) { pool.put(connection) }
                connection.send(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x", headers: ["Host": "test"]), to: receiver)
            }
            if !dial, let pooled = pool.take(generation: 0) {
                send(pooled)
                return loop.makeSucceededVoidFuture()
            }
            return pool.connect(host: "127.0.0.1", port: port, tls: nil).assumeIsolated().flatMapThrowing { channel in
                send(try pool.adopt(channel, generation: 0))
            }.nonisolated()
        }.get()
        return try await done.futureResult.get()
    }
}

private final class Receiver: UpstreamResponseReceiver {
    let done: EventLoopPromise<Int>
    let ended: () -> Void
    var status = 0

    init(done: EventLoopPromise<Int>, ended: @escaping () -> Void) {
        self.done = done
        self.ended = ended
    }

    func upstreamHead(_ head: HTTPResponseHead) { status = Int(head.status.code) }
    func upstreamBody(_ body: ByteBuffer) {}
    func upstreamEnd() {
        ended()
        done.succeed(status)
    }
    func upstreamReadComplete() {}
    func upstreamClosed() { done.fail(ChannelError.eof) }
}

/// An HTTP/1.1 server answering every request with `200 ok`, counting connections and requests.
private final class CountingServer: Sendable {
    let channel: any Channel
    private let counts = Mutex((accepted: 0, open: 0, requests: 0))
    private let children = Mutex<[any Channel]>([])

    var port: Int { channel.localAddress!.port! }
    var accepted: Int { counts.withLock { $0.accepted } }
    var open: Int { counts.withLock { $0.open } }
    var requests: Int { counts.withLock { $0.requests } }

    private init(channel: any Channel) { self.channel = channel }

    static func start() async throws -> CountingServer {
        let box = Mutex<CountingServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                let server = box.withLock { $0 }!
                server.counts.withLock { $0.accepted += 1; $0.open += 1 }
                server.children.withLock { $0.append(child) }
                child.closeFuture.whenComplete { _ in server.counts.withLock { $0.open -= 1 } }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    try child.pipeline.syncOperations.addHandler(OK { server.counts.withLock { $0.requests += 1 } })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = CountingServer(channel: channel)
        box.withLock { $0 = server }
        return server
    }

    func closeConnections() {
        for child in children.withLock({ $0 }) { child.close(promise: nil) }
    }

    func stop() {
        closeConnections()
        channel.close(promise: nil)
    }

    private final class OK: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let counted: () -> Void
        init(_ counted: @escaping () -> Void) { self.counted = counted }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            counted()
            var body = context.channel.allocator.buffer(capacity: 2)
            body.writeString("ok")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "2"]))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
