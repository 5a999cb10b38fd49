import BCSTestSupport
import Foundation
import Testing

/// `bcs serve --roles usermanager,gateway` over HTTPS in front of a `bcs kube-sim`, with the
/// cluster registered and its credentials reported through the BCS API exactly as an operator and
/// the agent do, and kubectl/curl helpers aimed at the gateway.
final class GatewayHarness: Sendable {
    static let admin = "GatewayE2EAdmin0123456789abcdeXYZ"
    static let clusterID = "BCS-K8S-001"
    let sim: KubeSimHarness
    let serve: ChildProcess
    /// With `split`, the usermanager and storage roles run in this second process.
    let backend: ChildProcess?
    let base: String
    let cert: String
    let port: Int

    /// `split`: the gateway runs alone and reaches a second process (usermanager, storage) over
    /// HTTP for `/bcsapi/v4/…`, reading users and credentials from the shared database.
    init(sim: KubeSimHarness, extraServeArguments: [String] = [], split: Bool = false) async throws {
        self.sim = sim
        port = try freePort()
        // kubectl sends bearer tokens only over HTTPS: the gateway gets a certificate of its own.
        cert = sim.directory + "/gateway-cert.pem"
        let key = sim.directory + "/gateway-key.pem"
        let openssl = try await ChildProcess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=bcs-gateway", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")
        let database = TestEnvironment.uniqueName("gw_e2e")
        let environment = ["BCS_SECRET_KEY": "gateway-e2e-secret-0123456789abcdef0123456789"]
        var roles = "usermanager,gateway"
        var extra = extraServeArguments
        if split {
            let backendPort = try freePort()
            backend = try ChildProcess(try TestEnvironment.bcsBinary(), [
                "serve", "--roles", "usermanager,storage", "--listen", "127.0.0.1:\(backendPort)", "--mongodb-uri", try TestEnvironment.mongoURI(),
                "--database", database, "--bootstrap-admin", "admin:\(Self.admin)",
            ], environment: environment)
            roles = "gateway"
            extra += ["--usermanager-url", "http://127.0.0.1:\(backendPort)", "--storage-url", "http://127.0.0.1:\(backendPort)"]
        } else {
            backend = nil
        }
        serve = try ChildProcess(try TestEnvironment.bcsBinary(), [
            "serve", "--roles", roles, "--listen", "127.0.0.1:\(port)", "--mongodb-uri", try TestEnvironment.mongoURI(),
            "--database", database, "--tls-cert", cert, "--tls-key", key,
        ] + (split ? [] : ["--bootstrap-admin", "admin:\(Self.admin)"]) + extra, environment: environment)
        base = "https://127.0.0.1:\(port)"
    }

    deinit {
        for process in [serve] + (backend.map { [$0] } ?? []) {
            if process.isRunning { process.signal(SIGTERM) }
            let deadline = Date().addingTimeInterval(6)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            process.terminate()
        }
    }

    /// The lines of a process's log that say what went wrong (a crash's message and our frames).
    static func digest(_ log: String) -> String {
        log.split(separator: "\n").filter { $0.contains("Fatal") || $0.contains("error") || $0.contains(" in bcs at /") || $0.contains("listening") }
            .prefix(40).joined(separator: "\n")
    }

    /// Calls the gateway with curl; returns the parsed JSON body (empty when not JSON) and the status.
    func curl(_ method: String, _ path: String, token: String? = GatewayHarness.admin, body: String? = nil,
              headers: [String] = []) async throws -> (json: [String: Any], code: Int, body: String) {
        // --path-as-is: send `..` segments as written (tests of path escapes).
        var args = ["-sS", "--path-as-is", "--cacert", cert, "-X", method, "-w", "\n%{http_code}"]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
        for header in headers { args += ["-H", header] }
        let result = try await ChildProcess.run("/usr/bin/curl", args + [base + path])
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let code = Int(lines.popLast() ?? "") ?? -1
        let text = lines.joined(separator: "\n")
        return ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:], code, text)
    }

    /// Registers the cluster and reports kube-sim's credentials with a fresh register token.
    func registerCluster() async throws {
        let registered = try await KubeSimHarness.eventually(timeout: .seconds(90)) {
            (try await curl("POST", "/bcsapi/v4/usermanager/v1/clusters", body: #"{"cluster_id":"\#(Self.clusterID)","cluster_type":"k8s"}"#)).json["code"] as? Int == 0
        }
        #expect(registered, "cluster registered; serve: \(Self.digest(serve.stderr)); backend: \(Self.digest(backend?.stderr ?? ""))")
        try await report(userToken: sim.token)
    }

    /// Reports credentials for the cluster as the agent does (`PUT …/credentials`).
    func report(userToken: String, serverAddresses: String? = nil) async throws {
        let tokenReply = try await curl("POST", "/bcsapi/v4/usermanager/v1/clusters/\(Self.clusterID)/register_tokens")
        var registerToken = (tokenReply.json["data"] as? [String: Any])?["token"] as? String
        if registerToken == nil {
            registerToken = ((try await curl("GET", "/bcsapi/v4/usermanager/v1/clusters/\(Self.clusterID)/register_tokens")).json["data"] as? [String: Any])?["token"] as? String
        }
        let report = try JSONSerialization.data(withJSONObject: [
            "register_token": try #require(registerToken), "server_addresses": serverAddresses ?? sim.url,
            "cacert_data": try String(contentsOfFile: sim.caFile, encoding: .utf8), "user_token": userToken,
        ])
        let stored = try await curl("PUT", "/bcsapi/v4/usermanager/v1/clusters/\(Self.clusterID)/credentials", token: nil, body: String(decoding: report, as: UTF8.self))
        #expect(stored.json["code"] as? Int == 0, "\(stored.body)")
    }

    /// Creates a plain user holding `role` (`viewer` or `manager`) on the cluster; returns its token.
    func user(_ name: String, role: String) async throws -> String {
        let created = try await curl("POST", "/bcsapi/v4/usermanager/v1/users/plain/\(name)")
        let token = try #require((created.json["data"] as? [String: Any])?["user_token"] as? String, "\(created.body)")
        let grant = #"{"apiVersion":"v1","kind":"permission","metadata":{"name":"t"},"spec":{"permissions":[{"user_name":"\#(name)","resource_type":"cluster","resource":"\#(Self.clusterID)","role":"\#(role)"}]}}"#
        let granted = try await curl("POST", "/bcsapi/v4/usermanager/v1/permissions", body: grant)
        #expect(granted.json["code"] as? Int == 0, "\(granted.body)")
        return token
    }

    /// Writes a kubeconfig for the gateway's cluster path with `token`.
    func kubeconfig(token: String, name: String) throws -> String {
        try sim.manifest("gateway-kubeconfig-\(name)", """
            apiVersion: v1
            kind: Config
            clusters: [{name: bcs, cluster: {server: "\(base)/tunnels/clusters/\(Self.clusterID)", certificate-authority: "\(cert)"}}]
            users: [{name: u, user: {token: "\(token)"}}]
            contexts: [{name: bcs, context: {cluster: bcs, user: u}}]
            current-context: bcs
            """)
    }

    /// Runs kubectl `version` with `kubeconfig`; `environment` selects WebSocket or SPDY streams.
    func kubectl(_ version: String, _ kubeconfig: String, _ arguments: [String], environment: [String: String] = [:],
                 timeout: Duration = .seconds(30)) async throws -> (status: Int32?, stdout: String, stderr: String) {
        try await ChildProcess.run(try KubeSimHarness.kubectlPath(version),
                                   ["--kubeconfig", kubeconfig, "--cache-dir", sim.directory + "/gw-cache-\(version)"] + arguments,
                                   environment: environment, timeout: timeout)
    }

    /// Runs a shell pipeline where `KUBECTL` stands for kubectl aimed at the gateway.
    func shell(_ version: String, _ kubeconfig: String, _ command: String, environment: [String: String] = [:]) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let kubectl = try KubeSimHarness.kubectlPath(version)
        let base = "'\(kubectl)' --kubeconfig '\(kubeconfig)' --cache-dir '\(sim.directory)/gw-cache-\(version)'"
        return try await ChildProcess.run("/bin/sh", ["-c", command.replacingOccurrences(of: "KUBECTL", with: base)], environment: environment)
    }

    func startKubectl(_ version: String, _ kubeconfig: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(try KubeSimHarness.kubectlPath(version), ["--kubeconfig", kubeconfig, "--cache-dir", sim.directory + "/gw-cache-\(version)"] + arguments)
    }
}
