import BCSTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import BCSTunnel

/// `bcs kube-agent --use-websocket` as a real process, with the in-cluster layout of a `bcs kube-sim`,
/// dialling a gateway route hosted by the test.
@Suite("kube-agent tunnel mode, process", .timeLimit(.minutes(2)))
struct KubeAgentTunnelProcessTests {
    func startAgent(_ sim: SimProcess, gatewayPort: Int) throws -> ChildProcess {
        var environment = try sim.podEnvironment()
        environment["REGISTER_TOKEN"] = TunnelFixture.registerToken
        return try ChildProcess(try TestEnvironment.bcsBinary(), [
            "kube-agent", "--bke-address=http://127.0.0.1:\(gatewayPort)", "--cluster-id=\(TunnelFixture.clusterID)",
            "--use-websocket", "--insecureSkipVerify", "--listen-addr=127.0.0.1:0",
        ], environment: environment)
    }

    func session(_ gateway: TestGateway, otherThan old: TunnelSession? = nil) async throws -> TunnelSession {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let session = gateway.pool.session(for: TunnelFixture.clusterID), session !== old { return session }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TunnelFixture.NoSession()
    }

    @Test func theAgentServesThroughTheTunnelAndAKilledAgentIsReplacedWithoutRestartingTheGateway() async throws {
        let sim = try await SimProcess()
        defer { sim.stop() }
        let gateway = try await TestGateway.start()
        var agent = try startAgent(sim, gatewayPort: gateway.port)
        let first = try await session(gateway)
        let version = try await first.send(TunnelFixture.request(.get, "/version"))
        let versionText = String(buffer: try await version.body.collect(upTo: 1 << 20))
        #expect(version.head.status == .ok && versionText.contains("gitVersion"))

        // SIGKILL: the kernel closes the socket; the gateway drops the session at once, in-flight streams fail.
        let watch = try await first.send(TunnelFixture.request(.get, "/api/v1/namespaces?watch=1"))
        agent.signal(SIGKILL)
        let clock = ContinuousClock()
        let killed = clock.now
        await first.closed()
        #expect(clock.now - killed < .seconds(5))
        await #expect(throws: (any Error).self) { for try await _ in watch.body {} }
        #expect(gateway.pool.session(for: TunnelFixture.clusterID) == nil)
        await #expect(throws: TunnelError.sessionClosed) { _ = try await first.send(TunnelFixture.request(.get, "/version")) }

        agent = try startAgent(sim, gatewayPort: gateway.port)
        defer { agent.terminate() }
        let second = try await session(gateway, otherThan: first)
        let again = try await second.send(TunnelFixture.request(.get, "/api/v1/namespaces"))
        let againText = String(buffer: try await again.body.collect(upTo: 1 << 20))
        #expect(again.head.status == .ok && againText.contains("kube-system"))
        await gateway.stop()
    }
}
