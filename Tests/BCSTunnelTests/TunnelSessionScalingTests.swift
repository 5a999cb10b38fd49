import BCSTestSupport
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import BCSTunnel

/// A busy agent's extra tunnel sessions, end to end in one process: opened under load on another
/// gateway event loop, retired when idle without failing a request (Docs/tunnel.md §5).
@Suite("tunnel sessions under load", .timeLimit(.minutes(2)))
struct TunnelSessionScalingTests {
    typealias F = TunnelFixture

    /// Under load the agent opens a second session; once that one is idle it is retired with a
    /// graceful GOAWAY: the gateway stops choosing it at once, a watch open on it goes on until it
    /// ends, and no request fails meanwhile.
    @Test func aBusyAgentOpensAnotherSessionAndRetiresItWhenIdle() async throws {
        let scaling = TunnelScaling(maxSessions: 2, streamsPerSecond: 20, idleAfter: .seconds(2), interval: .milliseconds(200))
        // The gateway on two event loops of its own, which nothing but its server uses: the server
        // hands accepted connections to them in turn, so with one connection in between, the
        // agent's next dial lands on the first session's loop.
        let gatewayLoops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let fixture = try await F.start(scaling: scaling, gatewayGroup: .shared(gatewayLoops))
        let first = try await fixture.session()
        let between = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: fixture.gatewayPort).get()
        let tally = Tally()
        /// A GET through a session the pool offers; refused by a draining one, once more on another,
        /// as `KubeProxy` does.
        @Sendable func get(_ chosen: TunnelSession? = nil) async {
            for attempt in 0..<2 {
                guard let session = attempt == 0 ? chosen ?? fixture.pool.session(for: F.clusterID) : fixture.pool.session(for: F.clusterID) else {
                    return tally.failure("no session")
                }
                do {
                    let answer = try await session.send(F.request(.get, "/version"))
                    let body = String(buffer: try await answer.body.collect(upTo: 1 << 20))
                    return answer.head.status == .ok && body.contains("gitVersion") ? tally.success() : tally.failure("\(answer.head.status)")
                } catch TunnelError.sessionDraining where attempt == 0 {
                    continue
                } catch where Task.isCancelled {
                    return  // the test's own callers stopping
                } catch {
                    return tally.failure("\(error) (attempt \(attempt + 1), \(session === first ? "the first session" : "another session"), draining: \(session.stats.draining), open: \(session.isActive))")
                }
            }
        }
        // Settled: two sessions, on the gateway's two loops. A dial that lands on the first one's
        // loop shows in the pool for a moment until the agent closes it and dials again.
        @Sendable func settled() -> Bool {
            let sessions = fixture.pool.sessions(for: F.clusterID).filter(\.isActive)
            return fixture.agent.sessionCount == 2 && sessions.count == 2 && sessions[0].eventLoop !== sessions[1].eventLoop
        }
        // Two callers, a request each every 10 ms at most: above 20 streams a second, and light
        // enough to leave the other tests running beside this one their CPU.
        let busy = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        while !Task.isCancelled, !settled() {
                            await get()
                            try? await Task.sleep(for: .milliseconds(10))
                        }
                    }
                }
            }
        }
        // Without the second dial this never holds: the test's one connection in between puts the
        // agent's first dial for more on the first session's loop.
        try await eventually(within: .seconds(10)) { settled() }
        busy.cancel()
        await busy.value
        #expect(fixture.agent.sessionCount == 2)
        try await between.close()
        let extra = try #require(fixture.pool.sessions(for: F.clusterID).first { $0 !== first })

        // A watch on the extra session, then only a trickle of requests (5 a second), which the
        // pool gives to the first session (both idle: the first listed wins).
        let (events, reader) = try await F.watchConfigMaps(through: extra)
        let trickle = Task {
            while !Task.isCancelled {
                await get()
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        try await eventually(within: .seconds(10)) { extra.stats.draining }
        #expect(extra.isActive, "a draining session stays open while a stream is open on it")
        #expect(fixture.pool.session(for: F.clusterID) === first, "a draining session is not chosen")
        #expect(fixture.pool.session(for: F.clusterID, near: extra.eventLoop) === first, "not even from its own event loop")
        // A request that chose the session just before its GOAWAY arrived is refused on both open
        // paths, without opening a stream: one opened after a GOAWAY is a connection error
        // (RFC 9113 §6.8) that would end the watch below.
        await #expect(throws: TunnelError.sessionDraining) { _ = try await extra.send(F.request(.get, "/version")) }
        let loop = extra.eventLoop
        let progress = RelayProgress()
        let relayReader = try await loop.submit { NIOLoopBound(RelayReader(progress: progress), eventLoop: loop) }.get()
        let headers = TunnelHeaders.requestBlock(F.request(.get, "/version"), upgrade: nil)
        try await loop.flatSubmit { extra.openRelayStream(headers: headers, to: relayReader.value, on: loop).map { relayReader.value.stream = $0 } }.get()
        try await eventually(within: .seconds(5)) { progress.value.closed }
        #expect(progress.value.bytes == 0 && extra.isActive)

        // The watch still works: it sees a ConfigMap created through the first session.
        let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"during-drain"},"data":{"k":"v"}}"#
        let created = try await first.send(F.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                           body: OneBuffer(buffer: ByteBuffer(string: body)))
        #expect(created.head.status == .created)
        _ = try await F.text(created)
        var seen = ""
        for await chunk in events {
            seen += chunk
            if seen.contains("during-drain") { break }
        }
        #expect(seen.contains("ADDED"), "the watch on the draining session saw the new ConfigMap")

        // Its last stream ended, the agent closes the session; the first serves on.
        reader.cancel()
        try await eventually(within: .seconds(10)) { !extra.isActive && fixture.pool.sessions(for: F.clusterID).count == 1 }
        trickle.cancel()
        await trickle.value
        #expect(fixture.agent.sessionCount == 1)
        #expect(first.isActive)
        await get(first)
        #expect(tally.failures.isEmpty, "requests failed while sessions opened and drained: \(tally.failures)")
        #expect(tally.served.load(ordering: .relaxed) > 20)
        await fixture.stop()
        try await gatewayLoops.shutdownGracefully()
    }
}

/// Requests served and failed, counted from several tasks.
final class Tally: Sendable {
    let served = Atomic<Int>(0)
    private let failed = Mutex<[String]>([])
    var failures: [String] { failed.withLock { $0 } }
    func success() { served.add(1, ordering: .relaxed) }
    func failure(_ why: String) { failed.withLock { $0.append(why) } }
}
