import AsyncHTTPClient
import BCSCore
import HTTPTypes
import NIOHTTP1
import BCSKube
import Foundation
import NIOCore
import Testing

@testable import BCSTunnel

/// A quick side-by-side of the tunnel and a direct connection to the same kube-sim (not a benchmark:
/// run with BCS_TUNNEL_PROBE=1; it prints ratios and checks nothing but completion).
@Suite("tunnel throughput probe", .enabled(if: ProcessInfo.processInfo.environment["BCS_TUNNEL_PROBE"] != nil))
struct TunnelThroughputProbe {
    @Test func smallGetsAndLargeBodiesThroughTheTunnelAndDirect() async throws {
        let fixture = try await TunnelFixture.start()
        let session = try await fixture.session()
        let client = try fixture.kube.makeHTTPClient()
        let token = fixture.sim.token
        let big = String(repeating: "y", count: 2_500_000)
        let created = try await session.send(TunnelFixture.request(.post, "/api/v1/namespaces/default/configmaps", [("Content-Type", "application/json")]),
                                             body: OneBuffer(buffer: ByteBuffer(string: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"\#(big)"}}"#)))
        _ = try await created.body.collect(upTo: 8 << 20)

        func direct(_ path: String) async throws -> Int {
            var request = HTTPClientRequest(url: fixture.sim.url + path)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            let response = try await client.execute(request, timeout: .seconds(30))
            var total = 0
            for try await chunk in response.body { total += chunk.readableBytes }
            return total
        }
        func tunnel(_ path: String) async throws -> Int {
            let response = try await session.send(TunnelFixture.request(.get, path))
            var total = 0
            for try await chunk in response.body { total += chunk.readableBytes }
            return total
        }
        func latencies(_ get: (String) async throws -> Int) async throws -> [Duration] {
            var result: [Duration] = []
            let clock = ContinuousClock()
            for _ in 0..<300 {
                let start = clock.now
                _ = try await get("/version")
                result.append(clock.now - start)
            }
            return result.sorted()
        }
        func throughput(_ get: (String) async throws -> Int) async throws -> Double {
            let clock = ContinuousClock()
            let start = clock.now
            var bytes = 0
            for _ in 0..<40 { bytes += try await get("/api/v1/namespaces/default/configmaps/big") }
            return Double(bytes) / (clock.now - start).seconds / 1_048_576
        }
        _ = try await latencies(direct)
        let directLatency = try await latencies(direct)
        let tunnelLatency = try await latencies(tunnel)
        let directRate = try await throughput(direct)
        let tunnelRate = try await throughput(tunnel)
        func ms(_ d: Duration) -> String { String(format: "%.2f ms", d.seconds * 1000) }
        print("""
            probe: /version p50 direct \(ms(directLatency[150])) tunnel \(ms(tunnelLatency[150])); \
            p99 direct \(ms(directLatency[296])) tunnel \(ms(tunnelLatency[296]))
            probe: 100 MB as 40 x 2.5 MB: direct \(String(format: "%.1f", directRate)) MiB/s, tunnel \(String(format: "%.1f", tunnelRate)) MiB/s, \
            ratio \(String(format: "%.2f", tunnelRate / directRate))
            """)
        try await client.shutdown()
        await fixture.stop()
    }
}
