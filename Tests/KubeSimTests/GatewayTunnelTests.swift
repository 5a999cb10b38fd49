import BCSTestSupport
import Foundation
import Testing

/// Tunnel mode end to end: `bcs serve` (gateway over HTTPS), `bcs kube-sim --incluster-dir`, and
/// `bcs kube-agent --use-websocket` started with the in-cluster layout and BCS's flags. The gateway
/// is given no route to kube-sim but the tunnel (no credentials are ever reported).
@Suite("gateway tunnel mode with kubectl", .serialized)
struct GatewayTunnelTests {
    /// The environment of a pod in kube-sim's cluster: KUBERNETES_SERVICE_* and the service-account files.
    static func podEnvironment(_ sim: KubeSimHarness) throws -> [String: String] {
        var environment = ["BCS_SERVICEACCOUNT_DIR": sim.directory + "/incluster"]
        for line in try String(contentsOfFile: sim.directory + "/incluster/env", encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { environment[parts[0]] = parts[1] }
        }
        return environment
    }

    static func startAgent(_ gateway: GatewayHarness, registerToken: String) throws -> ChildProcess {
        var environment = try podEnvironment(gateway.sim)
        environment["REGISTER_TOKEN"] = registerToken
        environment["SERVER_CERT"] = try String(contentsOfFile: gateway.cert, encoding: .utf8)
        return try ChildProcess(try TestEnvironment.bcsBinary(), [
            "kube-agent", "--bke-address=\(gateway.base)", "--cluster-id=\(GatewayHarness.clusterID)", "--use-websocket",
            "--periodsync=60", "--listen-addr=127.0.0.1:0",
        ], environment: environment)
    }

    /// Registers the cluster and returns its register token, without reporting credentials.
    static func registerOnly(_ gateway: GatewayHarness) async throws -> String {
        let registered = try await KubeSimHarness.eventually(timeout: .seconds(30)) {
            (try await gateway.curl("POST", "/bcsapi/v4/usermanager/v1/clusters", body: #"{"cluster_id":"\#(GatewayHarness.clusterID)","cluster_type":"k8s"}"#)).json["code"] as? Int == 0
        }
        #expect(registered)
        let reply = try await gateway.curl("POST", "/bcsapi/v4/usermanager/v1/clusters/\(GatewayHarness.clusterID)/register_tokens")
        return try #require((reply.json["data"] as? [String: Any])?["token"] as? String, "\(reply.body)")
    }

    func clusterState(_ gateway: GatewayHarness) async throws -> (state: String, mode: String, sessions: Int) {
        let status = try await gateway.curl("GET", "/gateway/v1/clusters")
        let entry = (status.json["data"] as? [[String: Any]])?.first { $0["cluster_id"] as? String == GatewayHarness.clusterID }
        return (entry?["state"] as? String ?? "", entry?["mode"] as? String ?? "", entry?["tunnel_sessions"] as? Int ?? -1)
    }

    @Test(arguments: KubeSimHarness.kubectlVersions)
    func kubectlThroughTheTunnel(version: String) async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        let registerToken = try await Self.registerOnly(gateway)
        let kubeconfig = try gateway.kubeconfig(token: GatewayHarness.admin, name: "tunnel-\(version)")
        var agent = try Self.startAgent(gateway, registerToken: registerToken)
        defer { agent.signal(SIGTERM) }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(30)) { try await gateway.kubectl(version, kubeconfig, ["get", "ns"]).status == 0 },
                "agent: \(agent.stderr.suffix(2000)) gateway: \(gateway.serve.stderr.suffix(2000))")
        #expect(try await clusterState(gateway) == ("Healthy", "tunnel", 1))

        let namespaces = try await gateway.kubectl(version, kubeconfig, ["get", "ns"])
        #expect(namespaces.stdout.contains("default") && namespaces.stdout.contains("STATUS"))
        let manifest = try gateway.sim.manifest("tunnel-cm-\(version).yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-tunnel\ndata:\n  k: v\n")
        #expect(try await gateway.kubectl(version, kubeconfig, ["create", "-f", manifest]).status == 0)
        #expect(try await gateway.kubectl(version, kubeconfig, ["apply", "-f", manifest]).status == 0)
        #expect(try await gateway.kubectl(version, kubeconfig, ["get", "configmap", "via-tunnel", "-o", "jsonpath={.data.k}"]).stdout == "v")
        // kubectl's repeated GETs were carried as tunnel streams by the event-loop fast path, and answered as above.
        let metrics = try await gateway.curl("GET", "/metrics").body
        let carried = metrics.split(separator: "\n").first { $0.hasPrefix("bcs_gateway_fast_path_tunnel_requests_total ") }
            .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        #expect(carried > 0, "\(metrics.split(separator: "\n").filter { $0.contains("fast_path") })")
        // HTTP/1.1 clients' GETs take the wire lane into the tunnel: the answer, which arrives as
        // HTTP/2 frames, goes out as HTTP/1.1 bytes (chunked when it has no length), whole. (A GET
        // whose token's cached decision has just expired takes the ordinary path: ask a few times.)
        func wireRequests() async throws -> Double {
            try await gateway.curl("GET", "/metrics").body.split(separator: "\n").first { $0.hasPrefix("bcs_gateway_fast_path_wire_requests_total ") }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        }
        let wireBefore = try await wireRequests()
        var wire = wireBefore
        for limit in 1...10 where wire < wireBefore + 2 {
            let http1 = try await ChildProcess.run("/usr/bin/curl", [
                "-sS", "--http1.1", "--cacert", gateway.cert, "-H", "Authorization: Bearer \(GatewayHarness.admin)", "-w", "\n%{http_code} %{http_version}",
                gateway.base + "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces?limit=\(limit)",
            ])
            #expect(http1.status == 0 && http1.stdout.hasSuffix("\n200 1.1") && http1.stdout.contains("NamespaceList"), "\(http1.stdout) \(http1.stderr)")
            wire = try await wireRequests()
        }
        #expect(wire >= wireBefore + 2, "HTTP/1.1 GETs through the tunnel took the wire lane")
        #expect(try await gateway.kubectl(version, kubeconfig, ["delete", "configmap", "via-tunnel"]).status == 0)

        let watcher = try gateway.startKubectl(version, kubeconfig, ["get", "pods", "-w"])
        defer { watcher.terminate() }
        try await Task.sleep(for: .seconds(1))
        #expect(try await gateway.sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: KubectlStreamsTests.pod).code == 201)
        #expect(try await KubeSimHarness.eventually { watcher.stdout.contains("shell") }, "watch through the tunnel: \(watcher.stderr)")
        // A log without `follow` comes without a length: through the wire lane it goes out chunked.
        let log = try await ChildProcess.run("/usr/bin/curl", [
            "-sS", "--http1.1", "--cacert", gateway.cert, "-H", "Authorization: Bearer \(GatewayHarness.admin)", "-D", "-",
            gateway.base + "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces/default/pods/shell/log",
        ])
        #expect(log.status == 0 && log.stdout.hasPrefix("HTTP/1.1 200") && log.stdout.lowercased().contains("transfer-encoding: chunked"), "\(log.stdout) \(log.stderr)")
        #expect(log.stdout.components(separatedBy: "\r\n\r\n").last?.isEmpty == false, "the log's lines arrived: \(log.stdout)")

        let webSocket = ["KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true"]
        let cat = try await gateway.shell(version, kubeconfig, "printf 'through\\ntunnel\\n' | KUBECTL exec -i shell -- cat", environment: webSocket)
        #expect(cat.status == 0 && cat.stdout == "through\ntunnel\n", "\(cat.stdout) \(cat.stderr)")
        let exit3 = try await gateway.shell(version, kubeconfig, "KUBECTL exec shell -- sh -c 'exit 3'", environment: webSocket)
        #expect(exit3.status == 3, "\(exit3.stderr)")
        let spdy = try await gateway.shell(version, kubeconfig, "printf 'spdy\\n' | KUBECTL exec -i shell -- cat", environment: ["KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"])
        #expect(spdy.status == 0 && spdy.stdout == "spdy\n", "\(spdy.stderr) agent: \(agent.stderr.suffix(1500))")

        let follower = try gateway.startKubectl(version, kubeconfig, ["logs", "-f", "shell"])
        defer { follower.terminate() }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(15)) { follower.stdout.contains("heartbeat 2 ") }, "\(follower.stderr)")

        let forward = try ChildProcess(try KubeSimHarness.kubectlPath(version),
                                       ["--kubeconfig", kubeconfig, "--cache-dir", gateway.sim.directory + "/tpf-cache", "port-forward", "pod/shell", ":8080"])
        defer { forward.terminate() }
        var port: UInt16?
        _ = try await KubeSimHarness.eventually {
            port = forward.stdout.split(separator: "\n").first { $0.hasPrefix("Forwarding from 127.0.0.1:") }
                .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { UInt16($0) }
            return port != nil || !forward.isRunning
        }
        let local = try #require(port, "no port in \(forward.stdout) \(forward.stderr)")
        #expect(try await KubectlPortForwardTests.roundTrip(port: local, message: "port-forward via tunnel\n") == "port-forward via tunnel\n", "\(forward.stderr)")
        forward.terminate()

        // The agent killed: a fast Status error, and the cluster's health flips within 15 s.
        agent.signal(SIGKILL)
        _ = await agent.wait(timeout: .seconds(5))
        let started = ContinuousClock.now
        var down = try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces")
        for _ in 0..<50 where down.code == 200 {
            try await Task.sleep(for: .milliseconds(300))
            down = try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces")
        }
        #expect(down.code == 503 && down.json["kind"] as? String == "Status", "\(down.code) \(down.body)")
        #expect(ContinuousClock.now - started < .seconds(16))
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(16)) { try await clusterState(gateway).state == "Unreachable" })

        // Restarted: service comes back without restarting the gateway.
        agent = try Self.startAgent(gateway, registerToken: registerToken)
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(30)) { try await gateway.kubectl(version, kubeconfig, ["get", "pods"]).status == 0 })
        #expect(gateway.serve.isRunning)
    }

    @Test func aWrongRegisterTokenIsRefusedAndLogged() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        _ = try await Self.registerOnly(gateway)
        let agent = try Self.startAgent(gateway, registerToken: String(repeating: "x", count: 128))
        defer { agent.terminate() }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { agent.stderr.contains("register token") || agent.stdout.contains("register token") },
                "agent: \(agent.stderr.suffix(2000))")
        #expect(try await KubeSimHarness.eventually { gateway.serve.stderr.contains("wrong register token") || gateway.serve.stdout.contains("wrong register token") })
        #expect(try await clusterState(gateway).sessions <= 0)
    }
}
