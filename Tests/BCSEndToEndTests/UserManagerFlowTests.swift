import AsyncHTTPClient
import BCSMongo
import BCSTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The user-manager as an operator and an agent meet it: the real `bcs` binary, driven with curl
/// exactly as BCS's documentation does (only host and tokens changed), then the raw MongoDB
/// collections and the server's logs searched for any secret in plain text.
@Suite("user-manager, end to end")
struct UserManagerFlowTests {
    let bcs: String
    let mongoURI: String
    static let adminToken = "E2EAdminToken0123456789abcdefXYZ"
    static let secret = "e2e-secret-0123456789abcdef0123456789abcdef"
    static let ca = """
        -----BEGIN CERTIFICATE-----
        MIIC5zCCAc+gAwIBAgIBATANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwptaW5pa3ViZUNB
        E2ECAqUeU3tIfEoQ9lmZqbbAHHdkTrOSeOnc0RSmXR4XNpyCuLWAZCrWRSeoHkf6QZgtYBNS
        -----END CERTIFICATE-----

        """
    static let saToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkUyRSJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06YmNzLWt1YmUtYWdlbnQifQ.c2lnbmF0dXJl"

    init() throws {
        bcs = try TestEnvironment.bcsBinary()
        mongoURI = try TestEnvironment.mongoURI()
    }

    /// Starts `bcs serve --roles usermanager` and waits until the role answers (start-up work done);
    /// retried on another port if a parallel test took the one found free.
    func start(database: String, extra: [String] = [], environment: [String: String] = ["BCS_SECRET_KEY": secret]) async throws -> (ChildProcess, String) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await startOnce(database: database, extra: extra, environment: environment)
            } catch let error as ServeFailed where attempt < 3 && error.stderr.contains("address already in use") {
                continue
            }
        }
    }

    private func startOnce(database: String, extra: [String], environment: [String: String]) async throws -> (ChildProcess, String) {
        let port = try freePort()
        let child = try ChildProcess(bcs, ["serve", "--roles", "usermanager", "--listen", "127.0.0.1:\(port)", "--mongodb-uri", mongoURI,
                                           "--database", database, "--bootstrap-admin", "admin:\(Self.adminToken)", "--log-level", "debug"] + extra,
                                     environment: environment)
        let base = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let r = try? await curl(["-H", "Authorization: Bearer \(Self.adminToken)", "\(base)/bcsapi/v4/usermanager/v1/clusters"]), r.status == 200 { return (child, base) }
            if !child.isRunning { break }
            try await Task.sleep(for: .milliseconds(150))
        }
        child.terminate()
        throw ServeFailed(stderr: child.stderr)
    }

    struct ServeFailed: Error, CustomStringConvertible {
        let stderr: String
        var description: String { "bcs serve --roles usermanager did not become ready:\n\(stderr)" }
    }

    /// Runs curl; returns the HTTP status and the body parsed as BCS's envelope.
    func curl(_ arguments: [String]) async throws -> (status: Int, json: [String: Any], body: String) {
        let result = try await ChildProcess.run("/usr/bin/curl", ["-s", "-S", "-w", "\n%{http_code}"] + arguments, timeout: .seconds(20))
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? -1
        let body = lines.joined(separator: "\n")
        let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        return (status, json, body)
    }

    @Test func bcsDocumentationFlowAndNoSecretInPlainTextAtRestOrInLogs() async throws {
        let database = "e2e_um_\(UInt32.random(in: 0...UInt32.max))"
        let (child, base) = try await start(database: database)
        defer { child.terminate() }
        let api = "\(base)/bcsapi/v4/usermanager/v1"
        let admin = "Authorization: Bearer \(Self.adminToken)"

        // 1. Register the cluster (BCS docs: no Content-Type header, curl's default form type).
        let cluster = try await curl(["-X", "POST", "-H", admin, "\(api)/clusters",
                                      "-d", #"{"cluster_id":"BCS-K8S-001", "cluster_type":"k8s", "tke_cluster_id":"", "tke_cluster_region":""}"#])
        #expect(cluster.status == 200 && cluster.json["result"] as? Bool == true && cluster.json["code"] as? Int == 0, "\(cluster.body)")
        let clusterData = cluster.json["data"] as? [String: Any] ?? [:]
        #expect(clusterData["id"] as? String == "BCS-K8S-001" && clusterData["cluster_type"] as? Int == 1)

        // 2. Its register token: 128 characters.
        let minted = try await curl(["-X", "POST", "-H", admin, "\(api)/clusters/BCS-K8S-001/register_tokens"])
        let registerToken = try #require((minted.json["data"] as? [String: Any])?["token"] as? String, "\(minted.body)")
        #expect(registerToken.count == 128 && minted.json["code"] as? Int == 0)

        // 3. The agent's report: refused with a wrong token, stored with the right one.
        func report(_ token: String) -> String {
            let body: [String: String] = ["register_token": token, "server_addresses": "https://192.168.10.1:6443;https://192.168.10.2:6443",
                                          "cacert_data": Self.ca, "user_token": Self.saToken]
            return String(decoding: try! JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        }
        let wrong = try await curl(["-X", "PUT", "\(api)/clusters/BCS-K8S-001/credentials", "-H", "Content-Type: application/json",
                                    "-d", report(String(repeating: "x", count: 128))])
        #expect(wrong.status == 400 && wrong.json["code"] as? Int == 1405061 && wrong.json["result"] as? Bool == false, "\(wrong.body)")
        let notYet = try await curl(["-H", admin, "\(api)/clusters/BCS-K8S-001/credentials"])
        #expect(notYet.status == 400 && (notYet.json["message"] as? String ?? "").contains("credentials not found"), "the refused report stored nothing")
        let right = try await curl(["-X", "PUT", "\(api)/clusters/BCS-K8S-001/credentials", "-H", "Content-Type: application/json", "-d", report(registerToken)])
        #expect(right.status == 200 && right.json["code"] as? Int == 0, "\(right.body)")

        // 4. Read back what was reported.
        let got = try await curl(["-X", "GET", "-H", admin, "\(api)/clusters/BCS-K8S-001/credentials"])
        let credentials = got.json["data"] as? [String: Any] ?? [:]
        #expect(got.status == 200 && credentials["server_addresses"] as? String == "https://192.168.10.1:6443;https://192.168.10.2:6443", "\(got.body)")
        #expect(credentials["ca_cert_data"] as? String == Self.ca && credentials["user_token"] as? String == Self.saToken)
        let all = try await curl(["-H", admin, "\(api)/clusters/credentials"])
        #expect(((all.json["data"] as? [String: Any])?["BCS-K8S-001"] as? [String: Any])?["user_token"] as? String == Self.saToken)

        // Users, permissions and verification (the verify token as a query parameter, to check logs too).
        let plain = try await curl(["-X", "POST", "-H", admin, "\(api)/users/plain/alice"])
        let plainToken = try #require((plain.json["data"] as? [String: Any])?["user_token"] as? String)
        let grant = try await curl(["-X", "POST", "-H", admin, "\(api)/permissions", "-d",
                                    #"{"apiVersion":"v1","kind":"permission","metadata":{"name":"alice"},"spec":{"permissions":[{"user_name":"alice","resource_type":"cluster","resource":"BCS-K8S-001","role":"viewer"}]}}"#])
        #expect(grant.json["code"] as? Int == 0, "\(grant.body)")
        let verifyBody = try await curl(["-X", "GET", "-H", admin, "\(api)/permissions/verify", "-d",
                                         #"{"user_token":"\#(plainToken)","resource_type":"cluster","resource":"BCS-K8S-001","action":"GET"}"#])
        #expect((verifyBody.json["data"] as? [String: Any])?["allowed"] as? Bool == true, "GET with a body: \(verifyBody.body)")
        let verifyQuery = try await curl(["-H", admin, "\(api)/permissions/verify?user_token=\(plainToken)&resource_type=cluster&resource=BCS-K8S-001&action=DELETE"])
        #expect((verifyQuery.json["data"] as? [String: Any])?["allowed"] as? Bool == false, "\(verifyQuery.body)")

        // (/metrics is long: read it with an HTTP client rather than through curl's pipe.)
        let metricsResponse = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(base)/metrics"), timeout: .seconds(10))
        let metrics = (body: String(buffer: try await metricsResponse.body.collect(upTo: 8 << 20)), status: Int(metricsResponse.status.code))
        #expect(metrics.status == 200 && metrics.body.contains(#"bcs_usermanager_credential_reports_total{result="accepted"} 1"#), "one report accepted")
        #expect(metrics.body.contains(#"bcs_usermanager_credential_reports_total{result="refused"} 1"#), "one refused")

        // No secret in plain text in any collection (also not base64-encoded), nor in the logs.
        let secrets = ["admin token": Self.adminToken, "plain user token": plainToken, "register token": registerToken,
                       "service-account token": Self.saToken, "CA": "E2ECAqUeU3tIfEoQ9lmZqbbAHHdkTrOSeOnc0RSmXR4XNpyCuLWAZCrWRSeoHkf6QZgtYBNS",
                       "server secret": Self.secret]
        let client = try MongoClient(uri: MongoURI(mongoURI), threads: 1)
        let db = client.database(database)
        var scanned = 0
        for name in ["users", "clusters", "register_tokens", "cluster_credentials", "roles", "permissions", "counters"] {
            for document in try await db.collection(name).find() {
                scanned += 1
                let raw = try document.bsonBytes()
                let text = String(decoding: raw, as: UTF8.self)
                for (what, secret) in secrets {
                    #expect(!text.contains(secret), "\(what) in plain text in \(name)")
                    #expect(!text.contains(Data(secret.utf8).base64EncodedString().prefix(40)), "\(what) base64-encoded in \(name)")
                }
            }
        }
        #expect(scanned >= 8, "the collections were actually read: \(scanned) documents")
        let stored = try #require(try await db.collection("cluster_credentials").findOne(["_id": "BCS-K8S-001"]))
        #expect((stored["sealedUserToken"]?.stringValue ?? "").count > 40, "the credentials are there, sealed")
        try? await db.drop()
        await client.shutdown()

        child.signal(SIGTERM)
        #expect(await child.wait(timeout: .seconds(10)) == 0)
        let logs = child.stderr
        #expect(logs.contains("/usermanager/v1/permissions/verify"), "debug request logs were written")
        for (what, secret) in secrets { #expect(!logs.contains(secret), "\(what) in the logs") }
    }

    @Test func refusesToStartWithoutASecretAndSaysWhy() async throws {
        let result = try await ChildProcess.run(bcs, ["serve", "--roles", "usermanager", "--mongodb-uri", mongoURI, "--listen", "127.0.0.1:\(try freePort())"],
                                                environment: ["BCS_SECRET_KEY": ""], timeout: .seconds(20))
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("bcs: error: the usermanager role needs a server secret") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")

        for (arguments, message) in [
            (["--secret-key-file", "/nonexistent/key"], "cannot read secret key file /nonexistent/key"),
            (["--secret-key", "short"], "at least 32"),
            (["--secret-key", Self.secret, "--bootstrap-admin", "nocolon"], "--bootstrap-admin must be NAME:TOKEN"),
            (["--secret-key", Self.secret, "--bootstrap-admin", "admin:short"], "16-256 visible ASCII"),
            (["--dev-generate-secret", "perhaps"], "--dev-generate-secret must be true or false"),
        ] {
            let bad = try await ChildProcess.run(bcs, ["serve", "--roles", "usermanager", "--mongodb-uri", mongoURI, "--listen", "127.0.0.1:\(try freePort())"] + arguments,
                                                 environment: ["BCS_SECRET_KEY": ""], timeout: .seconds(20))
            #expect(bad.status == 1 && bad.stderr.split(separator: "\n").count == 1 && bad.stderr.contains(message), "\(arguments): \(bad.stderr)")
            #expect(!bad.stderr.contains(Self.secret))
        }
        // Without the usermanager role no secret is needed.
        let storageOnly = try ChildProcess(bcs, ["serve", "--roles", "storage", "--mongodb-uri", mongoURI, "--listen", "127.0.0.1:\(try freePort())"],
                                           environment: ["BCS_SECRET_KEY": ""])
        defer { storageOnly.terminate() }
        try await Task.sleep(for: .seconds(1))
        #expect(storageOnly.isRunning, "\(storageOnly.stderr)")
    }

    @Test func developmentModeGeneratesASecretAndWarns() async throws {
        let database = "e2e_um_dev_\(UInt32.random(in: 0...UInt32.max))"
        let (child, base) = try await start(database: database, extra: ["--dev-generate-secret", "true"], environment: ["BCS_SECRET_KEY": ""])
        defer { child.terminate() }
        #expect(child.stderr.contains("DEVELOPMENT MODE") && child.stderr.contains("generated one for this run only"), "\(child.stderr)")
        let created = try await curl(["-X", "POST", "-H", "Authorization: Bearer \(Self.adminToken)", "\(base)/usermanager/v1/clusters", "-d", #"{"cluster_id":"DEV-1","cluster_type":"k8s"}"#])
        #expect(created.json["code"] as? Int == 0, "the role works: \(created.body)")
        child.signal(SIGTERM)
        _ = await child.wait(timeout: .seconds(10))
    }
}
