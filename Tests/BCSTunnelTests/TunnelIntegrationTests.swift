import AsyncHTTPClient
import BCSCore
import BCSKube
import BCSTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NIOHTTP1
import Synchronization
import Testing

@testable import BCSTunnel

/// The tunnel end to end in one process: a gateway route with `TunnelAcceptor`, a `TunnelAgent`,
/// and a real `bcs kube-sim` as the cluster's apiserver.
@Suite("tunnel, in process", .timeLimit(.minutes(2)))
struct TunnelIntegrationTests {
    typealias F = TunnelFixture

    /// Creates the ConfigMap `big` in kube-sim through the session, its one value 2.5 MB of `filler`.
    func createBigConfigMap(through session: TunnelSession, filler: Character) async throws {
        let big = String(repeating: filler, count: 2_500_000)
        let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"\#(big)"}}"#
        let created = try await session.send(F.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                             body: OneBuffer(buffer: ByteBuffer(string: body)))
        #expect(created.head.status == .created)
        _ = try await F.text(created)
    }

    @Test func plainRequestsListsWatchesAndBodies() async throws {
        let fixture = try await F.start()
        let session = try await fixture.session()
        #expect(session.params.userToken == TunnelParams.inClusterMarker && session.params.address.hasPrefix("https://127.0.0.1:"))

        // The gateway's own Authorization never reaches the apiserver: the agent's token is used.
        let version = try await session.send(F.request(.get, "/version", [("Authorization", "Bearer not-the-cluster-token")]))
        #expect(version.head.status == .ok)
        #expect(try await F.text(version).contains("gitVersion"))

        let namespaces = try await session.send(F.request(.get, "/api/v1/namespaces?limit=10", [("Accept", "application/json")]))
        #expect(namespaces.head.status == .ok && namespaces.head.headerFields[.contentType]?.hasPrefix("application/json") == true)
        #expect(try await F.text(namespaces).contains("kube-system"))

        // Plain GETs reuse the agent's keep-alive connections to the apiserver: 20 requests in a row
        // leave the sockets of a connection or two (both ends, TIME_WAIT included), not one per request.
        let simPort = try #require(URL(string: session.params.address)?.port)
        for n in 0..<20 {
            let answer = try await session.send(F.request(.get, "/api/v1/namespaces?limit=\(n + 1)"))
            #expect(answer.head.status == .ok)
            _ = try await F.text(answer)
        }
        #expect(socketsTowards(port: simPort) <= 4, "sockets to the apiserver: \(socketsTowards(port: simPort))")

        // A watch relayed event by event while it stays open.
        let (events, reader) = try await F.watchConfigMaps(through: session)
        for name in ["first", "second"] {
            let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\#(name)"},"data":{"k":"v"}}"#
            let created = try await session.send(F.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                                 body: OneBuffer(buffer: ByteBuffer(string: body)))
            #expect(created.head.status == .created)
            #expect(try await F.text(created).contains(#""name":"\#(name)""#))
            var seen = ""
            for await chunk in events {
                seen += chunk
                if seen.contains(#""name":"\#(name)""#) { break }
            }
            #expect(seen.contains("ADDED"), "the watch saw \(name) while open")
        }
        // Dropping the watch resets its stream; the agent's side ends with it.
        reader.cancel()
        try await eventually(within: .seconds(5)) { session.stats.openStreams == 0 }

        // The apiserver gone: the agent answers a plain GET (served on its event loop) and a POST
        // (served by the async forwarder) with a 502 `Status` of its own, at once.
        fixture.sim.stop()
        let clock = ContinuousClock()
        let started = clock.now
        let get = try await session.send(F.request(.get, "/api/v1/namespaces"))
        let getText = try await F.text(get)
        #expect(get.head.status.code == 502 && getText.contains(#""kind":"Status""#) && getText.contains("cannot reach its apiserver"), "\(getText)")
        let post = try await session.send(F.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                          body: OneBuffer(buffer: ByteBuffer(string: "{}")))
        let postText = try await F.text(post)
        #expect(post.head.status.code == 502 && postText.contains("cannot reach its apiserver"), "\(postText)")
        // Refused connections are answered at once, not after the 5 s connect deadline.
        #expect(clock.now - started < .seconds(2))
        await fixture.stop()
    }

    @Test func execUpgradeSwitchesAndARefusalPassesThroughVerbatim() async throws {
        let fixture = try await F.start()
        let session = try await fixture.session()
        let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#
        let created = try await session.send(F.request(.post, "/api/v1/namespaces/default/pods", [("Content-Type", "application/json")]),
                                             body: OneBuffer(buffer: ByteBuffer(string: pod)))
        #expect(created.head.status == .created)
        _ = try await F.text(created)

        let key = TunnelHandshake.makeKey()
        let upgradeFields = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
                             ("Sec-WebSocket-Protocol", "v5.channel.k8s.io")]
        let exec = "/api/v1/namespaces/default/pods/p1/exec?command=echo&command=hello-through-the-tunnel&stdout=true&stderr=true"
        switch try await session.upgrade(F.request(.get, exec, upgradeFields)) {
        case .switched(let head, let channel):
            #expect(head.status == .switchingProtocols)
            #expect(head.headerFields[.secWebSocketAccept] == TunnelHandshake.acceptValue(forKey: key))
            #expect(head.headerFields[.secWebSocketProtocol] == "v5.channel.k8s.io" && head.headerFields[.upgrade]?.lowercased() == "websocket")
            let collector = ByteCollector()
            try await channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(CollectingHandler(collector)) }.get()
            channel.read()
            try await eventually(within: .seconds(10)) { collector.text.contains("hello-through-the-tunnel") }
            channel.close(promise: nil)
        case .refused(let head, let body):
            Issue.record("exec refused: \(head.status) \(String(buffer: body))")
        }

        // A refusal (no such pod) reaches the caller with the apiserver's own status, type and body.
        let missing = "/api/v1/namespaces/default/pods/missing/exec?command=echo&stdout=true"
        var direct = HTTPClientRequest(url: fixture.sim.url + missing)
        for (name, value) in upgradeFields { direct.headers.add(name: name, value: value) }
        direct.headers.add(name: "Authorization", value: "Bearer \(fixture.sim.token)")
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: try fixture.kube.tlsConfiguration()))
        let expected = try await client.execute(direct, timeout: .seconds(10))
        let expectedBody = String(buffer: try await expected.body.collect(upTo: 1 << 20))
        try await client.shutdown()
        switch try await session.upgrade(F.request(.get, missing, upgradeFields)) {
        case .switched:
            Issue.record("an exec into a missing pod switched protocols")
        case .refused(let head, let body):
            #expect(head.status.code == Int(expected.status.code) && head.status.code >= 400, "\(head.status)")
            #expect(head.headerFields[.contentType] == expected.headers.first(name: "content-type"))
            #expect(String(buffer: body) == expectedBody)
        }
        await fixture.stop()
    }

    /// What the gateway does with a switched upgrade: splice it to the client's connection, which was
    /// accepted on another event loop.
    @Test func aSwitchedUpgradeSplicesToAConnectionOnAnotherEventLoop() async throws {
        let fixture = try await F.start()
        let session = try await fixture.session()
        let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p2"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#
        _ = try await F.text(try await session.send(F.request(.post, "/api/v1/namespaces/default/pods", [("Content-Type", "application/json")]),
                                                  body: OneBuffer(buffer: ByteBuffer(string: pod))))
        let other = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let (accepted, acceptedContinuation) = AsyncStream.makeStream(of: (any Channel).self)
        let server = try await ServerBootstrap(group: other)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                acceptedContinuation.yield(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let collector = ByteCollector()
        let client = try await ClientBootstrap(group: other)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CollectingHandler(collector)) }
            }
            .connect(to: server.localAddress!).get()
        var iterator = accepted.makeAsyncIterator()
        let clientSide = try #require(await iterator.next())

        let fields = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", TunnelHandshake.makeKey()), ("Sec-WebSocket-Version", "13"),
                      ("Sec-WebSocket-Protocol", "v5.channel.k8s.io")]
        guard case .switched(_, let upgraded) = try await session.upgrade(F.request(.get, "/api/v1/namespaces/default/pods/p2/exec?command=echo&command=spliced-output&stdout=true", fields)) else {
            Issue.record("not switched")
            return
        }
        #expect(upgraded.eventLoop !== clientSide.eventLoop)
        let finished = Flag()
        try await ChannelSplice.join(upgraded, clientSide) { fromTunnel, _ in if fromTunnel > 0 { finished.set() } }
        upgraded.read()
        clientSide.read()
        try await eventually(within: .seconds(10)) { collector.text.contains("spliced-output") }
        // The exec ends: the apiserver closes, the stream ends, the client's connection is closed too.
        try await client.closeFuture.get()
        try await eventually(within: .seconds(5)) { finished.value }
        try await server.close()
        try await other.shutdownGracefully()
        await fixture.stop()
    }

    @Test func anUnreadStreamDoesNotStallAConcurrentGet() async throws {
        let fixture = try await F.start()
        let session = try await fixture.session()
        try await createBigConfigMap(through: session, filler: "x")

        let clock = ContinuousClock()
        /// The times of `count` GETs one after another, sorted.
        func getTimes(_ count: Int) async throws -> [Duration] {
            var times: [Duration] = []
            for _ in 0..<count {
                let started = clock.now
                let version = try await session.send(F.request(.get, "/version"))
                #expect(try await F.text(version).contains("gitVersion"))
                times.append(clock.now - started)
            }
            return times.sorted()
        }
        let idle = try await getTimes(30)

        // Three 2.5 MB answers nobody reads: each fills its own 1 MiB window and stops there.
        var stalled: [TunnelResponse] = []
        for _ in 0..<3 { stalled.append(try await session.send(F.request(.get, "/api/v1/namespaces/default/configmaps/big"))) }
        try await Task.sleep(for: .milliseconds(300))
        let beside = try await getTimes(30)
        // Head-of-line blocking would hold every GET; a busy test machine delays a few. So: the median
        // stays within twice the idle one (plus 20 ms of timer noise), and none takes seconds.
        let (idleMedian, besideMedian) = (idle[idle.count / 2], beside[beside.count / 2])
        #expect(besideMedian < idleMedian * 2 + .milliseconds(20), "median GET: idle \(idleMedian), beside three stalled streams \(besideMedian)")
        #expect(beside.last! < .seconds(10), "the slowest GET beside three stalled streams took \(beside.last!)")
        #expect(session.stats.openStreams >= 3, "the stalled streams are still open")
        // Reading them later gets every byte: the window reopens as the reader consumes.
        for response in stalled {
            #expect(try await F.text(response, limit: 4 << 20).count > 2_500_000)
        }
        await fixture.stop()
    }

    /// The gateway's fast path reads a tunnelled answer through a relay stream, which the agent
    /// may send only as far as its window: a client that stops reading stalls that stream alone,
    /// while requests on stream channels (numbered on the wire among the relay streams) go on.
    @Test func anUnreadRelayStreamStopsAtItsWindowAndOthersGoOn() async throws {
        let fixture = try await F.start()
        let session = try await fixture.session()
        try await createBigConfigMap(through: session, filler: "y")

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let progress = RelayProgress()
        let reader = try await loop.submit { NIOLoopBound(RelayReader(progress: progress), eventLoop: loop) }.get()
        let headers = TunnelHeaders.requestBlock(F.request(.get, "/api/v1/namespaces/default/configmaps/big"), upgrade: nil)
        try await loop.flatSubmit {
            session.openRelayStream(headers: headers, to: reader.value, on: loop).map { reader.value.stream = $0 }
        }.get()
        try await eventually(within: .seconds(5)) { progress.value.bytes > 0 }  // the answer began
        try await Task.sleep(for: .milliseconds(300))
        let paused = progress.value.bytes
        #expect(paused <= TunnelProtocol.streamWindow, "the agent sent \(paused) bytes beyond its window")
        #expect(!progress.value.ended)

        // Beside it, on stream channels: bodies and GETs answered at once.
        for _ in 0..<5 {
            let version = try await session.send(F.request(.get, "/version"))
            #expect(try await F.text(version).contains("gitVersion"))
        }
        let echoed = try await session.send(F.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                            body: OneBuffer(buffer: ByteBuffer(string: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"beside"}}"#)))
        #expect(echoed.head.status == .created)
        _ = try await F.text(echoed)
        #expect(progress.value.bytes == paused, "the unread stream got more without asking")

        // Reading again reopens the window: every byte arrives.
        loop.execute { reader.value.resume() }
        try await eventually(within: .seconds(5)) { progress.value.ended }  // after the reader came back
        #expect(progress.value.bytes > 2_500_000 && !progress.value.closed)
        await fixture.stop()
    }

    @Test func aClosedConnectionIsNoticedAndTheAgentReconnects() async throws {
        let fixture = try await F.start()
        let first = try await fixture.session()
        // The gateway pools the session before the agent has recorded its side; wait for both.
        try await eventually(within: .seconds(5)) { fixture.agent.stats != nil && fixture.agent.sessionsEstablished == 1 }
        let clock = ContinuousClock()
        var started = clock.now
        fixture.agent.dropConnection()
        await first.closed()
        #expect(clock.now - started < .seconds(2))
        let second = try await fixture.session(otherThan: first)
        #expect(try await F.text(try await second.send(F.request(.get, "/version"))).contains("gitVersion"))

        // A frozen path (nothing in or out, the socket still open): both sides give up within 15 s.
        try await eventually(within: .seconds(5)) { fixture.agent.stats != nil && fixture.agent.sessionsEstablished == 2 }
        try await fixture.agent.freezeConnection()
        started = clock.now
        await second.closed()
        let noticed = clock.now - started
        // 15 s after the agent's last byte (a PING at most 5 s before the freeze), checked every second;
        // the upper bound allows for a loaded CI machine (the exact rule is KeepaliveStateMachineTests').
        #expect(noticed <= .seconds(25) && noticed >= .seconds(9), "the gateway closed the silent session after \(noticed)")
        let third = try await fixture.session(within: .seconds(40), otherThan: second)
        #expect(try await F.text(try await third.send(F.request(.get, "/version"))).contains("gitVersion"))
        #expect(fixture.agent.sessionsEstablished >= 3)
        #expect(third.stats.rtt == nil || third.stats.rtt! < .seconds(1))
        await fixture.stop()
    }

    @Test func severalSessionsPerClusterAndOneEndingLeavesTheOthers() async throws {
        let fixture = try await F.start()
        let first = try await fixture.session()
        let replica = TunnelAgent(configuration: fixture.agent.configuration, logger: Logger(label: "test.replica"))
        let replicaTask = Task { try await replica.run() }
        try await eventually(within: .seconds(10)) { fixture.pool.sessions(for: F.clusterID).count == 2 }
        let (busy, _) = (try await first.send(F.request(.get, "/api/v1/namespaces?watch=1")), ())
        let chosen = try #require(fixture.pool.session(for: F.clusterID))
        #expect(chosen !== first, "the session with fewer open streams is chosen")
        // Asked from an event loop: a session that loop serves wins, busier or not (no hop between threads).
        let near = try #require(fixture.pool.session(for: F.clusterID, near: first.eventLoop))
        if chosen.eventLoop === first.eventLoop {
            #expect(near === chosen, "both on the asking loop: the one with fewer open streams")
        } else {
            #expect(near === first, "the session on the asking loop, though it has more open streams")
        }
        replica.dropConnection()
        replicaTask.cancel()
        _ = await replicaTask.result
        try await eventually(within: .seconds(5)) { fixture.pool.sessions(for: F.clusterID).count == 1 }
        #expect(fixture.pool.session(for: F.clusterID) === first)
        #expect(try await F.text(try await first.send(F.request(.get, "/version"))).contains("gitVersion"))
        _ = busy
        await fixture.stop()
    }

    @Test func keepalivePingsMeasureTheRoundTrip() async throws {
        let fixture = try await F.start(keepalive: TunnelKeepalive(interval: .milliseconds(200), deadAfter: .seconds(3)))
        let session = try await fixture.session()
        try await eventually(within: .seconds(5)) { session.stats.rtt != nil && session.stats.lastPong != nil }
        try await eventually(within: .seconds(5)) { fixture.agent.stats?.rtt != nil }
        #expect(session.stats.rtt! < .seconds(1))
        await fixture.stop()
    }

    /// An apiserver that takes requests and never answers: the agent answers a 504 `Status`
    /// itself once its response timeout has passed, on both of its paths (a bodiless request served
    /// from the frames, and a request with a body through the async forwarder).
    @Test func aSilentApiserverGets504FromTheAgent() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }  // reads, never answers
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        let gateway = try await TestGateway.start()
        // kube-sim's in-cluster files give the agent a CA and a token to report; its apiserver is the silent one.
        let sim = try await SimProcess()
        var kube = try KubeConnection.load(kubeconfig: nil, environment: try sim.podEnvironment())
        kube.server = "http://127.0.0.1:\(port)"
        var configuration = TunnelAgentConfiguration(
            gateway: try GatewayAddress(parsing: "http://127.0.0.1:\(gateway.port)"), trust: GatewayTrust(), clusterID: F.clusterID,
            registerToken: F.registerToken, kube: kube)
        configuration.apiserverResponseTimeout = .seconds(1)
        var logger = Logger(label: "test.tunnel")
        logger.logLevel = .critical
        let agent = TunnelAgent(configuration: configuration, logger: logger)
        let agentTask = Task { try await agent.run() }
        var found: TunnelSession?
        try await eventually(within: .seconds(10)) {
            found = gateway.pool.session(for: F.clusterID)
            return found != nil
        }
        let session = try #require(found, "\(agent.lastError ?? "no error")")

        let started = ContinuousClock.now
        let get = try await session.send(F.request(.get, "/api/v1/namespaces"))
        let getBody = try await F.text(get)
        #expect(get.head.status.code == 504 && getBody.contains(#""kind":"Status""#) && getBody.contains("did not answer"), "\(get.head.status) \(getBody)")
        #expect(ContinuousClock.now - started < .seconds(5))
        let post = try await session.send(F.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                          body: OneBuffer(buffer: ByteBuffer(string: "{}")))
        let postBody = try await F.text(post)
        #expect(post.head.status.code == 504 && postBody.contains("did not answer"), "\(post.head.status) \(postBody)")

        agentTask.cancel()
        gateway.pool.closeAll()
        _ = await agentTask.result
        await gateway.stop()
        sim.stop()
        try await silent.close()
    }

    @Test func aWrongRegisterTokenIsRefusedAndBadHandshakesAre400() async throws {
        let fixture = try await F.start(registerToken: "wrong-token")
        try await eventually(within: .seconds(10)) { fixture.agent.lastError?.contains("register token") == true }
        #expect(fixture.pool.session(for: F.clusterID) == nil)
        #expect(fixture.agent.lastError?.contains("401") == true, "\(fixture.agent.lastError ?? "")")

        var request = HTTPClientRequest(url: "http://127.0.0.1:\(fixture.gatewayPort)\(TunnelProtocol.connectPath)")
        request.headers.add(name: "Connection", value: "Upgrade")
        request.headers.add(name: "Upgrade", value: "websocket")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
        #expect(response.status == .badRequest)
        #expect(body.contains(#""result":false"#) && body.contains(#""code":1405061"#), "\(body)")
        await fixture.stop()
    }
}

/// Bytes read from an upgraded channel, visible from the test.
final class ByteCollector: Sendable {
    private let bytes = Mutex([UInt8]())
    func append(_ buffer: ByteBuffer) { bytes.withLock { $0 += buffer.readableBytesView } }
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

final class CollectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let collector: ByteCollector
    init(_ collector: ByteCollector) { self.collector = collector }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { collector.append(unwrapInboundIn(data)) }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {}
}

/// Socket ends of this host on either side of a TCP connection with 127.0.0.1:`port`, in any
/// state but LISTEN (TIME_WAIT included: whichever end closed first keeps one), from /proc/net/tcp.
private func socketsTowards(port: Int) -> Int {
    let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
    let end = "0100007F:" + String(format: "%04X", port)
    return table.split(separator: "\n").dropFirst().filter { line in
        let columns = line.split(separator: " ")
        return columns.count > 3 && (columns[1] == end || columns[2] == end) && columns[3] != "0A"
    }.count
}

/// What a relay stream's receiver got so far, for the test to look at from any thread.
final class RelayProgress: Sendable {
    struct Value: Sendable {
        var bytes = 0
        var ended = false
        var closed = false
    }

    private let state = Mutex(Value())
    var value: Value { state.withLock { $0 } }
    func update(_ change: (inout Value) -> Void) { state.withLock { change(&$0) } }
}

/// A receiver that takes what arrives but asks for more only after `resume()`, as a client
/// connection that stopped reading would; used on its event loop only.
final class RelayReader: UpstreamResponseReceiver {
    let progress: RelayProgress
    var stream: TunnelRelayStream?
    private var reading = false

    init(progress: RelayProgress) {
        self.progress = progress
    }

    func resume() {
        reading = true
        stream?.read()
    }

    func upstreamHead(_ head: HTTPResponseHead) {}
    func upstreamBody(_ body: ByteBuffer) { progress.update { $0.bytes += body.readableBytes } }
    func upstreamEnd() { progress.update { $0.ended = true } }
    func upstreamReadComplete() { if reading { stream?.read() } }
    func upstreamClosed() { progress.update { $0.closed = true } }
}
