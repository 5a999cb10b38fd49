import BCSTestSupport
import Foundation
import Testing

/// Many concurrent watches through the gateway, and what happens to them when their clients leave.
@Suite("gateway watch capacity")
struct GatewayWatchCapacityTests {
    /// Opens COUNT watches over HTTPS/1.1, prints how many got a 200 head, holds them HOLD seconds,
    /// then closes every socket at once, unless it is killed first.
    static let holder = #"""
    import asyncio, ssl, sys
    host, port, path, token, cafile, count, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), float(sys.argv[7])
    context = ssl.create_default_context(cafile=cafile)
    async def watch(results):
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n".encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 60)
            results.append((b" 200 " in status, status))
            return writer
        except Exception as error:
            results.append((False, repr(error)))
    async def main():
        results = []
        writers = []
        for start in range(0, count, 50):
            writers += await asyncio.gather(*[watch(results) for _ in range(start, min(count, start + 50))])
        failed = [r[1] for r in results if not r[0]]
        print(f"ready ok={len(results) - len(failed)} failed={len(failed)} first={failed[:1]}", flush=True)
        await asyncio.sleep(hold)
        for writer in writers:
            if writer: writer.transport.abort()
    asyncio.run(main())
    """#

    /// More concurrent watches than one upstream HTTP/2 connection carries (100 streams) all get
    /// their 200; when their clients go away without a word, the gateway ends the upstream watches
    /// (its status route shows nothing in flight) instead of holding them until the next event.
    @Test func manyWatchesThenClientsLeave() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) {
            try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/version").code == 200
        })
        let count = 250
        let watches = try ChildProcess("/usr/bin/python3", [
            "-c", Self.holder, "127.0.0.1", String(gateway.port),
            "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces/default/configmaps?watch=1",
            GatewayHarness.admin, gateway.cert, String(count), "120",
        ])
        defer { watches.terminate() }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(60)) { watches.stdout.contains("ready") }, "\(watches.stderr)")
        #expect(watches.stdout.contains("ready ok=\(count) failed=0"), "\(watches.stdout) \(watches.stderr)")

        let held = try await inFlight(gateway)
        #expect(held.inFlight >= count && held.clients >= 3, "\(held)")

        // The clients vanish at once (the kernel closes their sockets), as a killed kubectl's do.
        watches.signal(SIGKILL)
        _ = await watches.wait(timeout: .seconds(10))
        let released = try await KubeSimHarness.eventually(timeout: .seconds(10)) { try await inFlight(gateway).inFlight == 0 }
        let after = try await inFlight(gateway)
        #expect(released, "upstream watches still held after their clients left: \(after)")
    }

    private func inFlight(_ gateway: GatewayHarness) async throws -> (inFlight: Int, clients: Int) {
        let status = try await gateway.curl("GET", "/gateway/v1/clusters")
        let clusters = status.json["data"] as? [[String: Any]] ?? []
        let cluster = clusters.first { $0["cluster_id"] as? String == GatewayHarness.clusterID } ?? [:]
        return (cluster["upstream_in_flight"] as? Int ?? -1, cluster["upstream_clients"] as? Int ?? -1)
    }
}
