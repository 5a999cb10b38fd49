import BCSMongo
import BCSTestSupport
import Foundation
import Testing

/// Three `bcs serve` replicas (every role) over one database, a kube-sim cluster whose agent holds
/// a tunnel to whichever replica a load balancer gives it, and kubectl through every replica.
@Suite("gateway replicas", .serialized)
struct GatewayReplicaTests {
    static let admin = "ReplicaE2EAdmin0123456789abcdefXYZ"
    static let clusterID = "BCS-K8S-REPL"
    static let peerSecret = "replica-peer-secret-0123456789"

    /// `scripts/tcp-balancer.py`: a TCP load balancer as a Kubernetes Service would be.
    static let balancer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .path + "/scripts/tcp-balancer.py"

    final class Replicas: Sendable {
        let sim: KubeSimHarness
        let ports: [Int]
        let processes: [ChildProcess]
        let cert: String
        let database: String
        let balancerPort: Int
        let balancer: ChildProcess

        init(sim: KubeSimHarness, count: Int = 3) async throws {
            self.sim = sim
            let cert = sim.directory + "/replica-cert.pem"
            self.cert = cert
            let key = sim.directory + "/replica-key.pem"
            let openssl = try await ChildProcess.run("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=bcs-gateway", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
            ])
            #expect(openssl.status == 0, "\(openssl.stderr)")
            let database = TestEnvironment.uniqueName("replicas")
            self.database = database
            let ports = try (0..<count).map { _ in try freePort() }
            self.ports = ports
            processes = try ports.map { port in
                try ChildProcess(try TestEnvironment.bcsBinary(), [
                    "serve", "--listen", "127.0.0.1:\(port)", "--mongodb-uri", try TestEnvironment.mongoURI(), "--database", database,
                    "--tls-cert", cert, "--tls-key", key, "--bootstrap-admin", "admin:\(GatewayReplicaTests.admin)",
                    "--peer-url", "https://127.0.0.1:\(port)", "--peer-ca-file", cert, "--retention-interval", "2", "--gateway-probe-interval", "1",
                ], environment: ["BCS_SECRET_KEY": "replica-e2e-secret-0123456789abcdef0123456789", "BCS_PEER_SECRET": GatewayReplicaTests.peerSecret])
            }
            balancerPort = try freePort()
            balancer = try ChildProcess("/usr/bin/python3", [GatewayReplicaTests.balancer, String(balancerPort)] + ports.map(String.init))
        }

        deinit {
            for process in processes + [balancer] where process.isRunning {
                process.signal(SIGTERM)
                let deadline = Date().addingTimeInterval(6)
                while process.isRunning, Date() < deadline { usleep(20_000) }
                process.terminate()
            }
        }

        func base(_ index: Int) -> String { "https://127.0.0.1:\(ports[index])" }

        func curl(_ index: Int, _ method: String, _ path: String, token: String = GatewayReplicaTests.admin, body: String? = nil) async throws -> (json: [String: Any], code: Int, body: String) {
            var args = ["-sS", "--cacert", cert, "-X", method, "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(token)"]
            if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
            let result = try await ChildProcess.run("/usr/bin/curl", args + [base(index) + path])
            var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let code = Int(lines.popLast() ?? "") ?? -1
            let text = lines.joined(separator: "\n")
            return ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:], code, text)
        }

        func kubeconfig(_ index: Int, token: String = GatewayReplicaTests.admin) throws -> String {
            try sim.manifest("replica-kubeconfig-\(index)-\(token.prefix(6))", """
                apiVersion: v1
                kind: Config
                clusters: [{name: bcs, cluster: {server: "\(base(index))/tunnels/clusters/\(GatewayReplicaTests.clusterID)", certificate-authority: "\(cert)"}}]
                users: [{name: u, user: {token: "\(token)"}}]
                contexts: [{name: bcs, context: {cluster: bcs, user: u}}]
                current-context: bcs
                """)
        }

        func kubectl(_ index: Int, _ arguments: [String], token: String = GatewayReplicaTests.admin, timeout: Duration = .seconds(20)) async throws -> (status: Int32?, stdout: String, stderr: String) {
            try await ChildProcess.run(try KubeSimHarness.kubectlPath("1.33"),
                                       ["--kubeconfig", try kubeconfig(index, token: token), "--cache-dir", sim.directory + "/replica-cache-\(index)"] + arguments,
                                       timeout: timeout)
        }

        /// How many tunnel clusters each replica says it owns (-1: not answering).
        func owned() async throws -> [Int] {
            var counts: [Int] = []
            for index in ports.indices {
                guard processes[index].isRunning else { counts.append(-1); continue }
                let view = try await curl(index, "GET", "/gateway/v1/replica")
                counts.append((view.json["data"] as? [String: Any])?["owned_tunnel_clusters"] as? Int ?? -1)
            }
            return counts
        }

        /// Registers the cluster through replica 0 and starts its agent in tunnel mode behind the balancer.
        func startAgent() async throws -> ChildProcess {
            let registered = try await KubeSimHarness.eventually(timeout: .seconds(60)) {
                try await self.curl(0, "POST", "/bcsapi/v4/usermanager/v1/clusters", body: #"{"cluster_id":"\#(GatewayReplicaTests.clusterID)","cluster_type":"k8s"}"#).json["code"] as? Int == 0
            }
            #expect(registered, "\(processes[0].stderr.suffix(1500))")
            let reply = try await curl(0, "POST", "/bcsapi/v4/usermanager/v1/clusters/\(GatewayReplicaTests.clusterID)/register_tokens")
            let token = try #require((reply.json["data"] as? [String: Any])?["token"] as? String, "\(reply.body)")
            var environment = try GatewayTunnelTests.podEnvironment(sim)
            environment["REGISTER_TOKEN"] = token
            environment["SERVER_CERT"] = try String(contentsOfFile: cert, encoding: .utf8)
            return try ChildProcess(try TestEnvironment.bcsBinary(), [
                "kube-agent", "--bke-address=https://127.0.0.1:\(balancerPort)", "--cluster-id=\(GatewayReplicaTests.clusterID)", "--use-websocket",
                "--periodsync=60", "--listen-addr=127.0.0.1:0",
            ], environment: environment)
        }
    }

    @Test func everyReplicaReachesATunnelClusterAndFailsOver() async throws {
        let replicas = try await Replicas(sim: try await KubeSimHarness())
        let agent = try await replicas.startAgent()
        defer { agent.signal(SIGTERM) }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(40)) { try await replicas.owned().filter { $0 == 1 }.count == 1 },
                "agent: \(agent.stderr.suffix(1500))")
        let owner = try #require(try await replicas.owned().firstIndex(of: 1))
        let others = replicas.ports.indices.filter { $0 != owner }

        // Every replica answers kubectl for the cluster: the owner through its session, the others through the owner.
        for index in replicas.ports.indices {
            let namespaces = try await replicas.kubectl(index, ["get", "ns"])
            #expect(namespaces.status == 0 && namespaces.stdout.contains("default"), "replica \(index): \(namespaces.stderr)")
        }
        // A watch and an exec through a replica that does not hold the tunnel.
        let viaPeer = others[0]
        let watch = try ChildProcess(try KubeSimHarness.kubectlPath("1.33"), [
            "--kubeconfig", try replicas.kubeconfig(viaPeer), "--cache-dir", replicas.sim.directory + "/replica-watch", "get", "configmaps", "-w", "-o", "name",
        ])
        defer { watch.terminate() }
        try await Task.sleep(for: .seconds(2))
        let manifest = try replicas.sim.manifest("replica-cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seen-by-peer\ndata:\n  k: v\n")
        #expect(try await replicas.kubectl(owner, ["create", "-f", manifest]).status == 0)
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(15)) { watch.stdout.contains("configmap/seen-by-peer") }, "\(watch.stdout) \(watch.stderr)")
        #expect(try await replicas.sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: KubectlStreamsTests.pod).code == 201)
        let exec = try await replicas.kubectl(viaPeer, ["exec", "shell", "--", "echo", "through-a-peer"])
        #expect(exec.status == 0 && exec.stdout.contains("through-a-peer"), "\(exec.stdout) \(exec.stderr)")
        let forwarded = try await replicas.curl(viaPeer, "GET", "/gateway/v1/replica")
        #expect(((forwarded.json["data"] as? [String: Any])?["forwarded_to_peers"] as? Int ?? 0) >= 3, "\(forwarded.body)")
        // A request claiming to come from a peer without the secret is refused, not served or forwarded.
        let forged = try await ChildProcess.run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", replicas.cert,
                                                                  "-H", "Authorization: Bearer \(Self.admin)", "-H", "BCS-Peer-Secret: not-the-secret",
                                                                  replicas.base(viaPeer) + "/tunnels/clusters/\(Self.clusterID)/api"])
        #expect(forged.stdout == "403", "\(forged.stdout) \(forged.stderr)")
        let ready = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--cacert", replicas.cert, replicas.base(owner) + "/readyz"])
        #expect(ready.stdout.contains("1 tunnel clusters owned, 2 peers"), "\(ready.stdout)")

        // The owner dies: the agent reconnects through the balancer to another replica, and every
        // surviving replica serves the cluster again within 30 s, with no manual step.
        replicas.processes[owner].signal(SIGKILL)
        let killed = ContinuousClock.now
        let restored = try await KubeSimHarness.eventually(timeout: .seconds(30)) {
            for index in others where try await replicas.kubectl(index, ["get", "ns"], timeout: .seconds(5)).status != 0 { return false }
            return true
        }
        #expect(restored, "agent: \(agent.stderr.suffix(1500))")
        let elapsed = ContinuousClock.now - killed
        #expect(elapsed < .seconds(30), "restored after \(elapsed)")
    }

    @Test func revocationReachesEveryReplicaAndRetentionRunsOncePerPeriod() async throws {
        let replicas = try await Replicas(sim: try await KubeSimHarness())
        let agent = try await replicas.startAgent()
        defer { agent.signal(SIGTERM) }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(40)) { try await replicas.owned().filter { $0 == 1 }.count == 1 })
        let created = try await replicas.curl(0, "POST", "/bcsapi/v4/usermanager/v1/users/plain/repl-viewer")
        let viewer = try #require((created.json["data"] as? [String: Any])?["user_token"] as? String, "\(created.body)")
        let grant = #"{"apiVersion":"v1","kind":"permission","metadata":{"name":"t"},"spec":{"permissions":[{"user_name":"repl-viewer","resource_type":"cluster","resource":"\#(Self.clusterID)","role":"viewer"}]}}"#
        #expect(try await replicas.curl(0, "POST", "/bcsapi/v4/usermanager/v1/permissions", body: grant).json["code"] as? Int == 0)
        for index in replicas.ports.indices {
            #expect(try await KubeSimHarness.eventually(timeout: .seconds(10)) { try await replicas.kubectl(index, ["get", "ns"], token: viewer).status == 0 })
        }
        // Revoked through replica 1: refused by all three within 5 s.
        let revoked = try await replicas.curl(1, "DELETE", "/bcsapi/v4/usermanager/v1/permissions", body: grant)
        #expect(revoked.json["code"] as? Int == 0, "\(revoked.body)")
        let revokedAt = ContinuousClock.now
        for index in replicas.ports.indices {
            let refused = try await KubeSimHarness.eventually(timeout: .seconds(5)) {
                let attempt = try await replicas.kubectl(index, ["get", "ns"], token: viewer, timeout: .seconds(5))
                return attempt.status != 0 && attempt.stderr.contains("Forbidden")
            }
            #expect(refused, "replica \(index) still allows the viewer")
        }
        #expect(ContinuousClock.now - revokedAt < .seconds(6))

        // Retention (every 2 s here) ran once per period across the three storage replicas, not three times.
        let client = try MongoClient(uri: MongoURI(TestEnvironment.mongoURI()), threads: 1)
        let runs = client.database(replicas.database).collection("bcs_job_runs")
        let before = try await runs.count(["job": "storage-retention"])
        try await Task.sleep(for: .seconds(10))
        let during = try await runs.count(["job": "storage-retention"]) - before
        let holders = Set(try await runs.find(["job": "storage-retention"]).compactMap { $0["holder"]?.stringValue })
        await client.shutdown()
        #expect((3...7).contains(during), "\(during) retention passes in 10 s with a 2 s period across 3 replicas")
        #expect(holders.count == 1, "one replica holds the lease while it lives: \(holders)")

        // Health probes of a direct-mode cluster: one replica probes (the lease), all three show its result.
        #expect(try await replicas.curl(0, "POST", "/bcsapi/v4/usermanager/v1/clusters", body: #"{"cluster_id":"BCS-K8S-DIRECT","cluster_type":"k8s"}"#).json["code"] as? Int == 0)
        let tokenReply = try await replicas.curl(0, "POST", "/bcsapi/v4/usermanager/v1/clusters/BCS-K8S-DIRECT/register_tokens")
        let registerToken = try #require((tokenReply.json["data"] as? [String: Any])?["token"] as? String)
        let report = try JSONSerialization.data(withJSONObject: [
            "register_token": registerToken, "server_addresses": replicas.sim.url,
            "cacert_data": try String(contentsOfFile: replicas.sim.caFile, encoding: .utf8), "user_token": replicas.sim.token,
        ])
        #expect(try await replicas.curl(2, "PUT", "/bcsapi/v4/usermanager/v1/clusters/BCS-K8S-DIRECT/credentials", body: String(decoding: report, as: UTF8.self)).json["code"] as? Int == 0)
        for index in replicas.ports.indices {
            let healthy = try await KubeSimHarness.eventually(timeout: .seconds(15)) {
                let status = try await replicas.curl(index, "GET", "/gateway/v1/clusters")
                let entry = (status.json["data"] as? [[String: Any]])?.first { $0["cluster_id"] as? String == "BCS-K8S-DIRECT" }
                return entry?["state"] as? String == "Healthy"
            }
            #expect(healthy, "replica \(index) shows the direct cluster healthy")
        }
        let probeClient = try MongoClient(uri: MongoURI(TestEnvironment.mongoURI()), threads: 1)
        let probers = Set(try await probeClient.database(replicas.database).collection("bcs_cluster_health").find().compactMap { $0["prober"]?.stringValue })
        let leaseHolder = try await probeClient.database(replicas.database).collection("bcs_leases").findOne(["_id": "gateway-health-probes"])?["holder"]?.stringValue
        await probeClient.shutdown()
        #expect(probers.count == 1 && probers.first == leaseHolder, "probes written by \(probers), lease held by \(leaseHolder ?? "nobody")")
        // Every replica says so on /readyz: its own view of tunnels and peers.
        for index in replicas.ports.indices {
            let ready = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--cacert", replicas.cert, replicas.base(index) + "/readyz"])
            #expect(ready.stdout.contains(", 2 peers,"), "\(ready.stdout)")
        }
    }
}
