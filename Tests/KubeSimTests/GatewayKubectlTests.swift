import BCSTestSupport
import Foundation
import Testing

/// Real kubectl through the real gateway to the simulator (see `GatewayHarness`).
@Suite("gateway with kubectl and kube-sim")
struct GatewayKubectlTests {
    @Test(arguments: KubeSimHarness.kubectlVersions)
    func kubectlWorksThroughTheGateway(version: String) async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        let kubeconfig = try gateway.kubeconfig(token: GatewayHarness.admin, name: "admin-\(version)")
        let reachable = try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.kubectl(version, kubeconfig, ["get", "ns"]).status == 0 }
        #expect(reachable)
        let namespaces = try await gateway.kubectl(version, kubeconfig, ["get", "ns"])
        #expect(namespaces.stdout.contains("default") && namespaces.stdout.contains("STATUS"), "a Table through the gateway: \(namespaces.stdout) \(namespaces.stderr)")
        // `create -f`: a JSON body after OpenAPI validation through the gateway.
        let manifest = try gateway.sim.manifest("gw-configmap-\(version).yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-gateway\ndata:\n  k: v\n")
        let created = try await gateway.kubectl(version, kubeconfig, ["create", "-f", manifest])
        #expect(created.status == 0, "create: \(created.stderr)")
        let applied = try await gateway.kubectl(version, kubeconfig, ["apply", "-f", manifest])
        #expect(applied.status == 0, "apply: \(applied.stderr)")
        let fetched = try await gateway.kubectl(version, kubeconfig, ["get", "configmap", "via-gateway", "-o", "jsonpath={.data.k}"])
        #expect(fetched.stdout == "v")
        // kubectl speaks HTTP/2 to the TLS gateway: its repeated GETs (discovery, gets) were carried
        // by the event-loop fast path on HTTP/2 streams, and answered as above.
        let status = try await gateway.curl("GET", "/gateway/v1/clusters")
        let cluster = (status.json["data"] as? [[String: Any]] ?? []).first { $0["cluster_id"] as? String == GatewayHarness.clusterID }
        #expect((cluster?["fast_path_requests"] as? Int ?? 0) > 0, "\(status.body)")
        #expect(try await gateway.kubectl(version, kubeconfig, ["delete", "configmap", "via-gateway"]).status == 0)
        // Imperative create: kubectl 1.32+ sends protobuf, with an empty namespace when its context names none.
        let imperative = try await gateway.kubectl(version, kubeconfig, ["create", "configmap", "imperative", "--from-literal=a=b"])
        #expect(imperative.status == 0, "imperative create: \(imperative.stderr)")
        #expect(try await gateway.kubectl(version, kubeconfig, ["get", "configmap", "imperative", "-o", "jsonpath={.data.a}"]).stdout == "b")

        // A wrong BCS token: kubectl reports the gateway's Unauthorized Status.
        let badConfig = try gateway.kubeconfig(token: "not-a-valid-token", name: "bad-\(version)")
        let refused = try await gateway.kubectl(version, badConfig, ["get", "ns"])
        #expect(refused.status != 0 && refused.stderr.contains("You must be logged in to the server"), "\(refused.stderr)")
    }

    /// exec over WebSocket (kubectl's default since 1.30; asked for in 1.29), `get pods -w`, `logs -f`.
    @Test(arguments: KubeSimHarness.kubectlVersions)
    func streamsThroughTheGateway(version: String) async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        let kubeconfig = try gateway.kubeconfig(token: GatewayHarness.admin, name: "streams-\(version)")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.kubectl(version, kubeconfig, ["get", "ns"]).status == 0 })

        let watcher = try gateway.startKubectl(version, kubeconfig, ["get", "pods", "-w"])
        defer { watcher.terminate() }
        try await Task.sleep(for: .seconds(1))
        #expect(try await gateway.sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: KubectlStreamsTests.pod).code == 201)
        #expect(try await KubeSimHarness.eventually { watcher.stdout.contains("shell") }, "watch through the gateway: \(watcher.stdout) \(watcher.stderr)")

        let webSocket = ["KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true"]
        let cat = try await gateway.shell(version, kubeconfig, "printf 'hello\\nworld\\n' | KUBECTL exec -i shell -- cat", environment: webSocket)
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout == "hello\nworld\n")
        #expect(gateway.serve.isRunning, "the gateway survives an exec: \(gateway.serve.stderr.split(separator: "\n").filter { $0.contains("Fatal") || $0.contains("rror") || $0.contains(" in bcs at /work") }.prefix(30).joined(separator: "\n"))")
        let exit3 = try await gateway.shell(version, kubeconfig, "KUBECTL exec shell -- sh -c 'exit 3'", environment: webSocket)
        #expect(exit3.status == 3, "\(exit3.stderr) \(gateway.serve.stderr.split(separator: "\n").filter { $0.contains("session") || $0.contains("rror") }.suffix(10).joined(separator: "\n"))")

        // A refused upgrade reaches kubectl as the apiserver sent it (kubectl's SPDY fallback and its message depend on it).
        let missing = try await gateway.shell(version, kubeconfig, "KUBECTL exec nosuchpod -- echo", environment: webSocket)
        #expect(missing.status != 0 && missing.stderr.contains("\"nosuchpod\" not found"), "\(missing.stderr)")

        let follower = try gateway.startKubectl(version, kubeconfig, ["logs", "-f", "shell"])
        defer { follower.terminate() }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(15)) { follower.stdout.contains("heartbeat 2 ") }, "\(follower.stdout) \(follower.stderr)")
    }

    /// Permissions, impersonation, the kubeconfig route, path escapes, unknown clusters, a new
    /// reported token, and a stopped apiserver — through the real gateway with kubectl 1.33.
    @Test func accessRulesAndFailures() async throws {
        let version = "1.33"
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        let viewer = try await gateway.user("viewer1", role: "viewer")

        // The kubeconfig route: the caller's own token, the gateway's cluster path, the gateway's CA.
        let fetched = try await gateway.curl("GET", "/bcsapi/v4/usermanager/v1/clusters/\(GatewayHarness.clusterID)/kubeconfig", token: viewer)
        #expect(fetched.code == 200, "\(fetched.body)")
        #expect(fetched.body.contains("server: \(gateway.base)/tunnels/clusters/\(GatewayHarness.clusterID)") && fetched.body.contains("token: \(viewer)"))
        let kubeconfig = try gateway.sim.manifest("viewer-kubeconfig", fetched.body)
        #expect(try await gateway.curl("GET", "/bcsapi/v4/usermanager/v1/clusters/NO-SUCH/kubeconfig").code == 404)
        #expect(try await gateway.curl("GET", "/bcsapi/v4/usermanager/v1/clusters/\(GatewayHarness.clusterID)/kubeconfig", token: "wrong").code == 401)

        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.kubectl(version, kubeconfig, ["get", "pods"]).status == 0 })
        #expect(try await gateway.sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: KubectlStreamsTests.pod).code == 201)
        let read = try await gateway.kubectl(version, kubeconfig, ["get", "pod", "shell", "-o", "name"])
        #expect(read.stdout == "pod/shell\n", "a viewer reads: \(read.stderr)")
        let delete = try await gateway.kubectl(version, kubeconfig, ["delete", "pod", "shell"])
        #expect(delete.status != 0 && delete.stderr.contains("may not DELETE cluster"), "a viewer may not delete: \(delete.stderr)")
        let exec = try await gateway.kubectl(version, kubeconfig, ["exec", "shell", "--", "echo", "hi"])
        #expect(exec.status != 0 && exec.stderr.contains("may not POST cluster"), "a viewer may not exec: \(exec.stderr)")
        let impersonating = try await gateway.kubectl(version, kubeconfig, ["--as=system:admin", "get", "pods"])
        #expect(impersonating.status != 0 && impersonating.stderr.contains("may not impersonate"), "\(impersonating.stderr)")
        #expect(!gateway.sim.process.stderr.contains("impersonate_user=system:admin"), "the header never reached the cluster")
        // An admin's own --as passes through to the cluster.
        let adminConfig = try gateway.kubeconfig(token: GatewayHarness.admin, name: "access-as")
        #expect(try await gateway.kubectl(version, adminConfig, ["--as=someone-else", "get", "pods"]).status == 0)
        #expect(try await KubeSimHarness.eventually { gateway.sim.process.stderr.contains("impersonate_user=someone-else") })
        #expect(try await gateway.sim.curl("/api/v1/namespaces/default/pods/shell").code == 200, "the pod survived the viewer")

        // Paths that try to leave the cluster prefix never reach another route.
        for escape in ["/tunnels/clusters/\(GatewayHarness.clusterID)/../../../bcsapi/v4/usermanager/v1/clusters",
                       "/tunnels/clusters/\(GatewayHarness.clusterID)/%2e%2e/%2e%2e/usermanager/v1/clusters",
                       "/tunnels/clusters/\(GatewayHarness.clusterID)/api%2F..%2F..%2Fusermanager",
                       "/tunnels/clusters/\(GatewayHarness.clusterID)/%252e%252e/x"] {
            let answer = try await gateway.curl("GET", escape, headers: []).body
            #expect(!answer.contains("\"result\""), "\(escape) reached a BCS route: \(answer)")
            #expect(answer.contains("\"kind\":\"Status\""), "\(escape): \(answer)")
        }
        // HTTP/2 by ALPN on the front (kubectl uses it for ordinary requests).
        let h2 = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--http2", "--cacert", gateway.cert, "-o", "/dev/null", "-w", "%{http_version}",
                                                              "-H", "Authorization: Bearer \(GatewayHarness.admin)", gateway.base + "/tunnels/clusters/\(GatewayHarness.clusterID)/version"])
        #expect(h2.stdout == "2", "\(h2.stdout) \(h2.stderr)")
        let unknown = try await gateway.curl("GET", "/tunnels/clusters/NO-SUCH-CLUSTER/api")
        #expect(unknown.code == 404 && unknown.json["kind"] as? String == "Status", "\(unknown.body)")

        // A new reported token is used by the next request: a wrong one fails, the right one works again.
        let admin = try gateway.kubeconfig(token: GatewayHarness.admin, name: "access-admin")
        try await gateway.report(userToken: "a-token-kube-sim-refuses")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(10)) {
            try await gateway.kubectl(version, admin, ["get", "ns"]).stderr.contains("Unauthorized")
        })
        try await gateway.report(userToken: gateway.sim.token)
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(10)) { try await gateway.kubectl(version, admin, ["get", "ns"]).status == 0 })

        // The apiserver gone: a fast 502/503 Status, not a hang.
        gateway.sim.process.signal(SIGTERM)
        _ = await gateway.sim.process.wait(timeout: .seconds(10))
        let started = ContinuousClock.now
        let down = try await gateway.curl("GET", "/tunnels/clusters/\(GatewayHarness.clusterID)/api/v1/namespaces")
        #expect([502, 503].contains(down.code) && down.json["kind"] as? String == "Status", "\(down.code) \(down.body)")
        // Refused connections fail over and answer at once, not after a connect deadline per address.
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    /// A gateway-only process: `/bcsapi/v4/…` forwarded to the usermanager/storage process, users
    /// and credentials read from the shared database, kubectl through it as usual.
    @Test func gatewayInItsOwnProcess() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness(), split: true)
        try await gateway.registerCluster()
        let clusters = try await gateway.curl("GET", "/bcsapi/v4/usermanager/v1/clusters")
        #expect(clusters.json["code"] as? Int == 0 && clusters.body.contains(GatewayHarness.clusterID), "\(clusters.body)")
        let events = try await gateway.curl("GET", "/bcsapi/v4/storage/events?clusterId=\(GatewayHarness.clusterID)")
        #expect(events.code == 200 && events.json["result"] as? Bool == true, "storage through the gateway: \(events.body)")
        #expect(try await gateway.curl("GET", "/bcsapi/v4/usermanager/v1/clusters", token: "wrong").code == 401)
        let kubeconfig = try gateway.kubeconfig(token: GatewayHarness.admin, name: "split")
        // The credential report reaches this process through the database within a poll interval.
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.kubectl("1.33", kubeconfig, ["get", "ns"]).status == 0 },
                "\(gateway.serve.stderr.suffix(3000))")
        let viewer = try await gateway.user("splitviewer", role: "viewer")
        let viewerConfig = try await gateway.curl("GET", "/bcsapi/v4/usermanager/v1/clusters/\(GatewayHarness.clusterID)/kubeconfig", token: viewer)
        #expect(viewerConfig.code == 200 && viewerConfig.body.contains("token: \(viewer)"), "\(viewerConfig.body)")
        let refused = try await gateway.kubectl("1.33", try gateway.kubeconfig(token: viewer, name: "split-viewer"), ["delete", "ns", "default"])
        #expect(refused.status != 0 && refused.stderr.contains("may not DELETE"), "\(refused.stderr)")
    }

    /// exec over SPDY (kubectl 1.29's default; 1.33 when told) and port-forward over each transport
    /// kubectl uses, through the gateway: the upgrade is relayed byte for byte whatever it carries.
    @Test(arguments: KubectlPortForwardTests.transports.indices)
    func spdyExecAndPortForwardThroughTheGateway(transport: Int) async throws {
        let (version, environment) = KubectlPortForwardTests.transports[transport]
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness())
        try await gateway.registerCluster()
        let kubeconfig = try gateway.kubeconfig(token: GatewayHarness.admin, name: "spdy-\(transport)")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.kubectl(version, kubeconfig, ["get", "ns"]).status == 0 })
        #expect(try await gateway.sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: KubectlPortForwardTests.pod).code == 201)

        let spdy = ["KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"]
        let cat = try await gateway.shell(version, kubeconfig, "printf 'over spdy\\n' | KUBECTL exec -i echo -- cat", environment: spdy)
        #expect(cat.status == 0 && cat.stdout == "over spdy\n", "\(cat.stdout) \(cat.stderr)")
        let exit3 = try await gateway.shell(version, kubeconfig, "KUBECTL exec echo -- sh -c 'exit 3'", environment: spdy)
        #expect(exit3.status == 3, "\(exit3.stderr)")

        let forward = try ChildProcess(try KubeSimHarness.kubectlPath(version),
                                       ["--kubeconfig", kubeconfig, "--cache-dir", gateway.sim.directory + "/pf-cache", "port-forward", "pod/echo", ":8080"],
                                       environment: environment)
        defer { forward.terminate() }
        var port: UInt16?
        _ = try await KubeSimHarness.eventually {
            port = forward.stdout.split(separator: "\n").first { $0.hasPrefix("Forwarding from 127.0.0.1:") }
                .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { UInt16($0) }
            return port != nil || !forward.isRunning
        }
        let local = try #require(port, "no port in \(forward.stdout) \(forward.stderr)")
        for round in 1...2 {
            let reply = try await KubectlPortForwardTests.roundTrip(port: local, message: "via gateway \(round)\n")
            #expect(reply == "via gateway \(round)\n", "\(forward.stderr)")
        }
        #expect(forward.isRunning, "\(forward.stderr)")
    }

    /// `--impersonate true`: a non-admin user reaches the cluster as themself (Impersonate-User and
    /// groups), observed by kube-sim; an admin is forwarded with the cluster's own identity.
    @Test func impersonationForwardsTheUser() async throws {
        let gateway = try await GatewayHarness(sim: try await KubeSimHarness(), extraServeArguments: ["--impersonate", "true"])
        try await gateway.registerCluster()
        let viewer = try await gateway.user("alice", role: "viewer")
        let kubeconfig = try gateway.kubeconfig(token: viewer, name: "impersonated")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await gateway.kubectl("1.33", kubeconfig, ["get", "pods"]).status == 0 })
        #expect(try await KubeSimHarness.eventually {
            gateway.sim.process.stderr.contains("impersonate_groups=bcs:users,system:authenticated impersonate_user=alice")
        }, "\(gateway.sim.process.stderr.suffix(2000))")
        let before = gateway.sim.process.stderr.components(separatedBy: "impersonated request").count
        #expect(try await gateway.kubectl("1.33", try gateway.kubeconfig(token: GatewayHarness.admin, name: "imp-admin"), ["get", "ns"]).status == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(gateway.sim.process.stderr.components(separatedBy: "impersonated request").count == before, "admins are not impersonated")
    }
}
