import BCSTestSupport
import Foundation
import Testing

/// Real kubectl through the real gateway to the simulator: `bcs serve --roles usermanager,gateway`
/// in front of `bcs kube-sim`, the cluster registered and its credentials reported through the BCS
/// API exactly as an operator and the agent do.
@Suite("gateway with kubectl and kube-sim")
struct GatewayKubectlTests {
    @Test(arguments: KubeSimHarness.kubectlVersions)
    func kubectlWorksThroughTheGateway(version: String) async throws {
        let sim = try await KubeSimHarness()
        let admin = "GatewayE2EAdmin0123456789abcdeXYZ"
        let port = try freePort()
        // kubectl sends bearer tokens only over HTTPS: the gateway gets a certificate of its own.
        let cert = sim.directory + "/gateway-cert.pem", key = sim.directory + "/gateway-key.pem"
        let openssl = try await ChildProcess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=bcs-gateway", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")
        let serve = try ChildProcess(try TestEnvironment.bcsBinary(), [
            "serve", "--roles", "usermanager,gateway", "--listen", "127.0.0.1:\(port)", "--mongodb-uri", try TestEnvironment.mongoURI(),
            "--database", TestEnvironment.uniqueName("gw_e2e"), "--bootstrap-admin", "admin:\(admin)", "--tls-cert", cert, "--tls-key", key,
        ], environment: ["BCS_SECRET_KEY": "gateway-e2e-secret-0123456789abcdef0123456789"])
        defer { serve.signal(SIGTERM) }
        let base = "https://127.0.0.1:\(port)"

        func curl(_ method: String, _ path: String, token: String? = admin, body: String? = nil) async throws -> [String: Any] {
            var args = ["-sS", "--cacert", cert, "-X", method]
            if let token { args += ["-H", "Authorization: Bearer \(token)"] }
            if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
            let result = try await ChildProcess.run("/usr/bin/curl", args + [base + path])
            return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
        }
        let registered = try await KubeSimHarness.eventually(timeout: .seconds(30)) {
            (try await curl("POST", "/bcsapi/v4/usermanager/v1/clusters", body: #"{"cluster_id":"BCS-K8S-001","cluster_type":"k8s"}"#))["code"] as? Int == 0
        }
        #expect(registered, "cluster registered; serve stderr: \(serve.stderr.suffix(2000))")
        let registerToken = try #require((try await curl("POST", "/bcsapi/v4/usermanager/v1/clusters/BCS-K8S-001/register_tokens"))["data"] as? [String: Any])["token"] as? String
        let report = try JSONSerialization.data(withJSONObject: [
            "register_token": try #require(registerToken), "server_addresses": sim.url,
            "cacert_data": try String(contentsOfFile: sim.caFile, encoding: .utf8), "user_token": sim.token,
        ])
        #expect((try await curl("PUT", "/bcsapi/v4/usermanager/v1/clusters/BCS-K8S-001/credentials", token: nil, body: String(decoding: report, as: UTF8.self)))["code"] as? Int == 0)

        // A kubeconfig for the gateway: the user's own BCS token, the cluster's path.
        let kubeconfig = try sim.manifest("gateway-kubeconfig", """
            apiVersion: v1
            kind: Config
            clusters: [{name: bcs, cluster: {server: "\(base)/tunnels/clusters/BCS-K8S-001", certificate-authority: "\(cert)"}}]
            users: [{name: admin, user: {token: \(admin)}}]
            contexts: [{name: bcs, context: {cluster: bcs, user: admin}}]
            current-context: bcs
            """)
        func kubectl(_ arguments: [String]) async throws -> (status: Int32?, stdout: String, stderr: String) {
            try await ChildProcess.run(try KubeSimHarness.kubectlPath(version),
                                       ["--kubeconfig", kubeconfig, "--cache-dir", sim.directory + "/gw-cache-\(version)"] + arguments)
        }
        let reachable = try await KubeSimHarness.eventually(timeout: .seconds(20)) { try await kubectl(["get", "ns"]).status == 0 }
        #expect(reachable)
        let namespaces = try await kubectl(["get", "ns"])
        #expect(namespaces.stdout.contains("default") && namespaces.stdout.contains("STATUS"), "a Table through the gateway: \(namespaces.stdout) \(namespaces.stderr)")
        // `create -f`: a JSON body after OpenAPI validation through the gateway.
        let manifest = try sim.manifest("gw-configmap-\(version).yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: via-gateway\ndata:\n  k: v\n")
        let created = try await kubectl(["create", "-f", manifest])
        #expect(created.status == 0, "create: \(created.stderr)")
        let fetched = try await kubectl(["get", "configmap", "via-gateway", "-o", "jsonpath={.data.k}"])
        #expect(fetched.stdout == "v")
        #expect(try await kubectl(["delete", "configmap", "via-gateway"]).status == 0)
        // Imperative create: kubectl 1.32+ sends protobuf, with an empty namespace when its context names none.
        let imperative = try await kubectl(["create", "configmap", "imperative", "--from-literal=a=b"])
        #expect(imperative.status == 0, "imperative create: \(imperative.stderr)")
        #expect(try await kubectl(["get", "configmap", "imperative", "-o", "jsonpath={.data.a}"]).stdout == "b")

        // A wrong BCS token: kubectl reports the gateway's Unauthorized Status.
        let badConfig = try sim.manifest("gateway-bad-kubeconfig", try String(contentsOfFile: kubeconfig, encoding: .utf8).replacingOccurrences(of: admin, with: "not-a-valid-token"))
        let refused = try await ChildProcess.run(try KubeSimHarness.kubectlPath(version), ["--kubeconfig", badConfig, "--cache-dir", sim.directory + "/gw-bad-\(version)", "get", "ns"])
        #expect(refused.status != 0 && refused.stderr.contains("You must be logged in to the server"), "\(refused.stderr)")
    }
}
