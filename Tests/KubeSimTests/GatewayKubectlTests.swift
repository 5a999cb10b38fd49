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
        let exit3 = try await gateway.shell(version, kubeconfig, "KUBECTL exec shell -- sh -c 'exit 3'", environment: webSocket)
        #expect(exit3.status == 3, "\(exit3.stderr)")

        let follower = try gateway.startKubectl(version, kubeconfig, ["logs", "-f", "shell"])
        defer { follower.terminate() }
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(15)) { follower.stdout.contains("heartbeat 2 ") }, "\(follower.stdout) \(follower.stderr)")
    }
}
