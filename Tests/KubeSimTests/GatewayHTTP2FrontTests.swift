import BCSTestSupport
import Foundation
import Testing

/// The gateway's HTTPS front over HTTP/2 (`SecureFrontChannel`, `HTTP2FrontConnection`): streams
/// the fast path answers and streams handed to the async responder on one connection, and a
/// graceful shutdown with a watch open.
@Suite("gateway HTTPS front over HTTP/2")
struct GatewayHTTP2FrontTests {
    @Test func fastAndHandedOverStreamsShareAConnection() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        let cluster = gateway.base + "/tunnels/clusters/\(GatewayHarness.clusterID)"
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/version").code == 200 })
        let before = try await fastPathCount(gateway)

        // One curl, one HTTP/2 connection, streams in turn: a proxied GET (the fast path), a BCS
        // route (handed over), a proxied POST with a body (handed over), the GET again, an unknown
        // cluster (a Status from the responder).
        let urls = [cluster + "/api/v1/namespaces/default/configmaps", gateway.base + "/bcsapi/v4/usermanager/v1/clusters",
                    cluster + "/api/v1/namespaces/default/configmaps", cluster + "/api/v1/namespaces/default/configmaps/over-h2",
                    gateway.base + "/tunnels/clusters/NO-SUCH/api"]
        let common = ["-sS", "--http2", "--cacert", gateway.cert, "-H", "Authorization: Bearer \(GatewayHarness.admin)",
                      "-w", "%{http_version} %{http_code} %{num_connects}\n", "-o", "/dev/null"]
        let post = ["-X", "POST", "-H", "Content-Type: application/json",
                    "--data-binary", #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"over-h2"},"data":{"k":"v"}}"#]
        let args = common + [urls[0], "--next"] + common + [urls[1], "--next"] + common + post + [urls[2], "--next"]
            + common + [urls[3], "--next"] + common + [urls[4]]
        let answers = try await ChildProcess.run("/usr/bin/curl", args)
        #expect(answers.stdout == "2 200 1\n2 200 0\n2 201 0\n2 200 0\n2 404 0\n", "one connection, every answer right: \(answers.stdout) \(answers.stderr)")
        #expect(try await fastPathCount(gateway) >= before + 2, "the proxied GETs took the fast path")

        // Many concurrent streams on few connections, fast and handed over mixed.
        let load = try await ChildProcess.run("/usr/bin/h2load", ["-n", "400", "-c", "2", "-m", "16", "-H", "Authorization: Bearer \(GatewayHarness.admin)",
                                                                  cluster + "/api/v1/namespaces/default/configmaps/over-h2", gateway.base + "/bcsapi/v4/usermanager/v1/clusters"])
        #expect(load.stdout.contains("400 succeeded, 0 failed, 0 errored"), "\(load.stdout) \(load.stderr)")
        #expect(load.stdout.contains("status codes: 400 2xx"), "\(load.stdout)")
    }

    /// A fast-path GET on an HTTP/2 stream (`HTTP2FastStreams`, no stream channel): a large list
    /// arrives whole (16 MB, under flow control); a client that leaves mid-answer is recorded as 499,
    /// and the gateway serves on.
    @Test func aLargeListAndAClientLeavingMidAnswer() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/version").code == 200 })
        // 160 ConfigMaps of 100 KB (an argument of curl's command line may not be much larger): a list
        // of 16 MB, far more than HTTP/2's windows let go at once.
        let value = String(repeating: "x", count: 100_000)
        for index in 0..<160 {
            let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big-\#(index)"},"data":{"v":"\#(value)"}}"#
            #expect(try await gateway.sim.curl("/api/v1/namespaces/default/configmaps", method: "POST", body: body).code == 201)
        }
        let list = "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces/default/configmaps"
        let whole = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--http2", "--cacert", gateway.cert, "-H", "Authorization: Bearer \(GatewayHarness.admin)", gateway.base + list])
        let items = (try? JSONSerialization.jsonObject(with: Data(whole.stdout.utf8)) as? [String: Any])?["items"] as? [Any]
        #expect((items?.count ?? 0) >= 160, "the whole list through one HTTP/2 stream: \(whole.stdout.prefix(200)) \(whole.stderr)")

        // A reader that takes 100 KB and goes: its curl fails writing and drops the connection
        // while the gateway still has most of the list to send.
        let before = try await fastPathCount(gateway)
        let slow = try await ChildProcess.run("/bin/sh", ["-c", "curl -sS --http2 --cacert \(gateway.cert) -H 'Authorization: Bearer \(GatewayHarness.admin)' "
            + "'\(gateway.base + list)' | head -c 100000 | wc -c"])
        #expect(slow.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "100000", "\(slow.stdout) \(slow.stderr)")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(10)) {
            gateway.serve.stderr.split(separator: "\n").contains { $0.contains("path=/api/v1/namespaces/default/configmaps ") && $0.contains("status=499") }
        }, "the client that left is audited as 499")
        #expect(try await fastPathCount(gateway) > before, "it was a fast-path stream")
        let again = try await gateway.curl("GET", list)
        #expect(again.code == 200 && again.body.contains("big-159"))
        #expect(!gateway.serve.stderr.contains("Fatal error"))
    }

    /// On shutdown an HTTP/2 connection with no stream open gets GOAWAY and is closed at once: it
    /// does not hold the process until `--shutdown-timeout`. (Hummingbird's connection manager sent
    /// GOAWAY and a PING and waited for the PING's answer, so a client that did not answer held the
    /// shutdown for all of it.)
    @Test func anIdleConnectionDoesNotHoldUpShutdown() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness(), extraServeArguments: ["--shutdown-timeout", "30"])
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.curl("GET", "/healthz").code == 200 })
        // The client preface and an empty SETTINGS frame, then nothing: an idle HTTP/2 connection.
        // What the server sends is written out as hex when the connection ends.
        let idle = try ChildProcess("/bin/sh", ["-c", #"(printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\000\000\000\004\000\000\000\000\000'; sleep 60) | "#
            + "openssl s_client -quiet -alpn h2 -connect 127.0.0.1:\(gateway.port) 2>/dev/null | od -An -tx1 -v | tr -d '\\n'"])
        defer { idle.terminate() }
        try await Task.sleep(for: .seconds(2))
        let started = ContinuousClock.now
        gateway.serve.signal(SIGTERM)
        let status = await gateway.serve.wait(timeout: .seconds(40))
        #expect(status == 0, "\(GatewayHarness.digest(gateway.serve.stderr))")
        // Closing waits up to 5 s for the client's TLS close_notify (NIOSSL's default), which this client never sends.
        #expect(ContinuousClock.now - started < .seconds(15), "the idle connection was closed, not held until --shutdown-timeout 30")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(5)) { !idle.stdout.isEmpty }, "the client saw its connection end")
        // The server's SETTINGS (type 4), then GOAWAY (type 7) on stream 0 naming stream 0, with NO_ERROR.
        #expect(idle.stdout.contains(" 04 00 00 00 00 00"), "\(idle.stdout)")
        #expect(idle.stdout.contains(" 00 00 08 07 00 00 00 00 00 00 00 00 00 00 00 00 00"), "\(idle.stdout)")
    }

    @Test func shutdownWithAnOpenWatchEndsInTime() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness(), extraServeArguments: ["--shutdown-timeout", "3"])
        try await gateway.registerCluster()
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/version").code == 200 })
        // A watch over HTTP/2 that would run for an hour.
        let watch = try ChildProcess("/usr/bin/curl", ["-sS", "-N", "--http2", "--cacert", gateway.cert, "-H", "Authorization: Bearer \(GatewayHarness.admin)",
                                                       gateway.base + "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces?watch=1&timeoutSeconds=3600"])
        defer { watch.terminate() }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(10)) { watch.stdout.contains("\"type\":\"ADDED\"") }, "the watch streams: \(watch.stderr)")
        let started = ContinuousClock.now
        gateway.serve.signal(SIGTERM)
        let status = await gateway.serve.wait(timeout: .seconds(15))
        #expect(status == 0, "exit status \(String(describing: status)): \(GatewayHarness.digest(gateway.serve.stderr))")
        #expect(ContinuousClock.now - started < .seconds(10), "bounded by --shutdown-timeout 3 and the cancellation that follows")
        #expect(!gateway.serve.stderr.contains("Fatal error"), "\(GatewayHarness.digest(gateway.serve.stderr))")
        #expect(await watch.wait(timeout: .seconds(5)) != nil, "the watch's connection was closed")
    }

    private func fastPathCount(_ gateway: GatewayHarness) async throws -> Int {
        let status = try await gateway.curl("GET", "/gateway/v1/clusters")
        let cluster = (status.json["data"] as? [[String: Any]] ?? []).first { $0["cluster_id"] as? String == GatewayHarness.clusterID }
        return cluster?["fast_path_requests"] as? Int ?? -1
    }
}
