import AsyncHTTPClient
import BCSTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `bcs kube-agent` as a process, started with the in-cluster layout of a `bcs kube-sim` and BCS's
/// flags, reporting to a real `bcs serve` (all roles, MongoDB-compatible server).
@Suite("kube-agent report mode, end to end", .timeLimit(.minutes(3)))
struct KubeAgentEndToEndTests {
    static let adminToken = "AgentE2EAdminToken0123456789abcd"
    let bcs: String
    let mongoURI: String

    init() throws {
        bcs = try TestEnvironment.bcsBinary()
        mongoURI = try TestEnvironment.mongoURI()
    }

    /// `bcs serve` with every role, ready once the user-manager answers.
    func startServe(database: String) async throws -> (ChildProcess, String) {
        for _ in 0..<3 {
            let port = try freePort()
            let child = try ChildProcess(bcs, ["serve", "--listen", "127.0.0.1:\(port)", "--mongodb-uri", mongoURI, "--database", database,
                                               "--bootstrap-admin", "admin:\(Self.adminToken)"],
                                         environment: ["BCS_SECRET_KEY": "agent-e2e-secret-0123456789abcdef0123456789"])
            let base = "http://127.0.0.1:\(port)"
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, child.isRunning {
                if let r = try? await call(.GET, base + "/bcsapi/v4/usermanager/v1/clusters"), r.status == 200 { return (child, base) }
                try await Task.sleep(for: .milliseconds(150))
            }
            child.terminate()
            if !child.stderr.contains("address already in use") { throw ServeFailed(stderr: child.stderr) }
        }
        throw ServeFailed(stderr: "no free port")
    }

    struct ServeFailed: Error, CustomStringConvertible {
        let stderr: String
        var description: String { "bcs serve did not become ready:\n\(stderr)" }
    }

    func call(_ method: HTTPMethod, _ url: String, body: String? = nil) async throws -> (status: Int, json: [String: Any]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(Self.adminToken)")
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:])
    }

    /// Registers `clusterID` and returns a fresh register token for it.
    func register(_ clusterID: String, base: String) async throws -> String {
        let api = base + "/bcsapi/v4/usermanager/v1"
        let cluster = try await call(.POST, api + "/clusters", body: #"{"cluster_id":"\#(clusterID)","cluster_type":"k8s"}"#)
        #expect(cluster.status == 200, "\(cluster.json)")
        let minted = try await call(.POST, api + "/clusters/\(clusterID)/register_tokens")
        return try #require((minted.json["data"] as? [String: Any])?["token"] as? String, "\(minted.json)")
    }

    func credentials(_ clusterID: String, base: String) async throws -> [String: Any]? {
        let got = try await call(.GET, base + "/bcsapi/v4/usermanager/v1/clusters/\(clusterID)/credentials")
        return got.status == 200 ? got.json["data"] as? [String: Any] : nil
    }

    func startAgent(sim: SimProcess, base: String, clusterID: String, token: String, period: Int) throws -> ChildProcess {
        var environment = try sim.podEnvironment()
        environment["REGISTER_TOKEN"] = token
        return try ChildProcess(bcs, ["kube-agent", "--bke-address=\(base)", "--cluster-id=\(clusterID)", "--insecureSkipVerify=true",
                                      "--periodsync=\(period)", "--listen-addr=127.0.0.1:0"], environment: environment)
    }

    @Test func credentialsAppearWithinOnePeriodAndARotatedTokenIsReportedNext() async throws {
        let sim = try await SimProcess()
        defer { sim.stop() }
        let database = TestEnvironment.uniqueName("e2e_agent")
        let (serve, base) = try await startServe(database: database)
        defer { serve.terminate() }
        let clusterID = "BCS-K8S-AGENT1"
        let registerToken = try await register(clusterID, base: base)

        let period = 3
        let started = ContinuousClock.now
        let agent = try startAgent(sim: sim, base: base, clusterID: clusterID, token: registerToken, period: period)
        defer { agent.terminate() }
        var reported: [String: Any]?
        while ContinuousClock.now - started < .seconds(period), reported == nil {
            reported = try await credentials(clusterID, base: base)
            if reported == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let first = try #require(reported, "no credentials within one period; agent log:\n\(agent.stderr)")
        let ca = try String(contentsOfFile: sim.inClusterDirectory + "/ca.crt", encoding: .utf8)
        #expect(first["user_token"] as? String == sim.token)
        #expect(first["server_addresses"] as? String == sim.url, "\(first["server_addresses"] ?? "")")
        #expect(first["ca_cert_data"] as? String == ca)

        // The projected token rotates: the next report carries the new one. Counted in reports
        // (the agent logs `reports=N`), not seconds: on a loaded machine a report through the
        // gateway to MongoDB can itself take seconds.
        func reportsSoFar() -> Int {
            agent.stderr.split(separator: "\n").compactMap { line in
                line.range(of: "reports=").flatMap { Int(line[$0.upperBound...].prefix { $0.isNumber }) }
            }.max() ?? 0
        }
        let rotated = "rotated-\(UUID().uuidString)"
        let tokenPath = sim.inClusterDirectory + "/token"
        try rotated.write(toFile: tokenPath + ".new", atomically: true, encoding: .utf8)
        #expect(rename(tokenPath + ".new", tokenPath) == 0)
        let reportsAtRotation = reportsSoFar()
        let rotatedAt = ContinuousClock.now
        var seen: String?
        while ContinuousClock.now - rotatedAt < .seconds(30), seen != rotated {
            seen = try await credentials(clusterID, base: base)?["user_token"] as? String
            if seen != rotated { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(seen == rotated, "the rotated token was not reported; agent log:\n\(agent.stderr)")
        // A report already under way when the file changed may carry the old token; the one after must not.
        #expect(reportsSoFar() <= reportsAtRotation + 2, "the rotated token took more than the next report; agent log:\n\(agent.stderr)")
        #expect(agent.isRunning)

        // --listen-addr serves /healthz and /metrics.
        let listening = try #require(agent.stderr.split(separator: "\n").first { $0.contains("listening on 127.0.0.1:") })
        let port = try #require(listening.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(5))
        let healthText = String(buffer: try await health.body.collect(upTo: 4096))
        #expect(health.status == .ok && healthText.contains("reports accepted"), "\(healthText)")
        let ready = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(5))
        #expect(ready.status == .ok, "reports are accepted, so the agent is ready")
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(5))
        let metricsText = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        #expect(metricsText.contains(#"bcs_kubeagent_reports_total{result="accepted"}"#))
    }

    /// `--tunnel-sessions` out of its range is a usage error that names the flag, before anything is dialled.
    @Test func aTunnelSessionsCountOutOfRangeIsAUsageError() async throws {
        for count in ["0", "65", "many"] {
            let (status, _, stderr) = try await ChildProcess.run(bcs, [
                "kube-agent", "--bke-address=http://127.0.0.1:9", "--cluster-id=BCS-K8S-X", "--use-websocket", "--tunnel-sessions", count,
                "--kubeconfig=/nonexistent",
            ], environment: ["REGISTER_TOKEN": "t"])
            #expect(status != nil && status != 0, "--tunnel-sessions \(count) exited \(String(describing: status))")
            #expect(stderr.contains("tunnel-sessions"), "\(stderr)")
        }
    }

    @Test func aWrongRegisterTokenIsRefusedAndLogged() async throws {
        let sim = try await SimProcess()
        defer { sim.stop() }
        let database = TestEnvironment.uniqueName("e2e_agent")
        let (serve, base) = try await startServe(database: database)
        defer { serve.terminate() }
        let clusterID = "BCS-K8S-AGENT2"
        _ = try await register(clusterID, base: base)

        let agent = try startAgent(sim: sim, base: base, clusterID: clusterID, token: String(repeating: "x", count: 128), period: 2)
        defer { agent.terminate() }
        try await eventually(within: .seconds(10)) { agent.stderr.contains("refused the register token") }
        #expect(agent.stderr.contains("invalid register token"), "\(agent.stderr)")
        #expect(try await credentials(clusterID, base: base) == nil, "nothing stored")
        #expect(agent.isRunning, "the agent keeps retrying")
        // Alive, but not ready: /readyz says why.
        let listening = try #require(agent.stderr.split(separator: "\n").first { $0.contains("listening on 127.0.0.1:") })
        let port = try #require(listening.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) })
        let live = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(5))
        #expect(live.status == .ok)
        let ready = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(5))
        let readyText = String(buffer: try await ready.body.collect(upTo: 4096))
        #expect(ready.status == .serviceUnavailable && readyText.contains("last report failed"), "\(readyText)")
    }

    @Test func anUnreachableGatewayAndACertificateMismatchAreNamed() async throws {
        let sim = try await SimProcess()
        defer { sim.stop() }
        let port = try freePort()
        let agent = try startAgent(sim: sim, base: "http://127.0.0.1:\(port)", clusterID: "BCS-K8S-AGENT3", token: "t", period: 2)
        defer { agent.terminate() }
        try await eventually(within: .seconds(10)) { agent.stderr.contains("cannot reach the gateway") && agent.stderr.contains("Connection refused") }
        var podEnvironment = try sim.podEnvironment()
        podEnvironment["REGISTER_TOKEN"] = "t"
        let tunnel = try ChildProcess(bcs, ["kube-agent", "--bke-address=http://127.0.0.1:\(port)", "--cluster-id=BCS-K8S-AGENT3", "--use-websocket",
                                            "--listen-addr=127.0.0.1:0"], environment: podEnvironment)
        defer { tunnel.terminate() }
        try await eventually(within: .seconds(10)) { tunnel.stderr.contains("attempt=2") && tunnel.stderr.contains("Connection refused") }
        #expect(tunnel.isRunning, "a failed dial is retried, not fatal: \(tunnel.stderr)")

        // An HTTPS "gateway" whose certificate SERVER_CERT did not sign (kube-sim's own CA is not given).
        var environment = try sim.podEnvironment()
        environment["REGISTER_TOKEN"] = "t"
        for mode in [[], ["--use-websocket"]] {
            let strict = try ChildProcess(bcs, ["kube-agent", "--bke-address", sim.url, "--cluster-id", "BCS-K8S-AGENT3", "--listen-addr", "127.0.0.1:0"] + mode,
                                          environment: environment)
            defer { strict.terminate() }
            try await eventually(within: .seconds(10)) { strict.stderr.contains("TLS with the gateway failed") && strict.stderr.contains("CERTIFICATE_VERIFY_FAILED") }
        }
        // With SERVER_CERT naming the right CA, TLS passes and the refusal is the server's HTTP answer instead
        // (kube-sim knows no BCS route and wants its bearer token: a 401).
        environment["SERVER_CERT"] = try String(contentsOfFile: sim.inClusterDirectory + "/ca.crt", encoding: .utf8)
        for mode in [[], ["--use-websocket"]] {
            let trusting = try ChildProcess(bcs, ["kube-agent", "--bke-address", sim.url, "--cluster-id", "BCS-K8S-AGENT3", "--listen-addr", "127.0.0.1:0"] + mode,
                                            environment: environment)
            defer { trusting.terminate() }
            // kube-sim knows no BCS route: 401 for the report (no bearer token), 400 for the WebSocket upgrade.
            try await eventually(within: .seconds(10)) { trusting.stderr.contains("HTTP 401") || trusting.stderr.contains("HTTP 400") }
            #expect(!trusting.stderr.contains("TLS with the gateway failed"), "\(mode): \(trusting.stderr)")
        }
    }
}
