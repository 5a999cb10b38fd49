import AsyncHTTPClient
import BCSCore
import BCSServer
import BCSTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// `bcs serve` as a real process, driven as an operator would: flags, environment, config file,
/// HTTP, signals, exit codes.
@Suite("bcs binary")
struct ServeBinaryTests {
    let bcs: String
    let mongoURI: String

    init() throws {
        bcs = try TestEnvironment.bcsBinary()
        mongoURI = try TestEnvironment.mongoURI()
    }

    /// Starts `bcs serve` on a free port and waits until `/healthz` answers.
    ///
    /// A port found free can be taken by a parallel test before the server binds it; with an
    /// automatically chosen port that case is retried on another port.
    func startServe(_ extra: [String] = [], environment: [String: String] = [:], port: Int? = nil, scheme: String = "http", client: HTTPClient = .shared) async throws -> (ChildProcess, Int) {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await startServeOnce(extra, environment: environment, port: port, scheme: scheme, client: client)
            } catch let error as ServeDidNotStart where port == nil && attempt < 3 && error.stderr.contains("address already in use") {
                continue
            }
        }
    }

    private func startServeOnce(_ extra: [String], environment: [String: String], port: Int?, scheme: String, client: HTTPClient) async throws -> (ChildProcess, Int) {
        let port = try port ?? freePort()
        var arguments = ["serve", "--mongodb-uri", mongoURI, "--readiness-interval", "0.2"] + extra
        if !extra.contains("--listen") && environment["BCS_LISTEN"] == nil { arguments += ["--listen", "127.0.0.1:\(port)"] }
        // The usermanager role (hosted by default) refuses to start without a server secret.
        var environment = environment
        if environment["BCS_SECRET_KEY"] == nil && !arguments.contains("--secret-key-file") { environment["BCS_SECRET_KEY"] = Self.testSecret }
        let child = try ChildProcess(bcs, arguments, environment: environment)
        let deadline = ContinuousClock.now + .seconds(40)
        while ContinuousClock.now < deadline {
            if let status = try? await get("\(scheme)://127.0.0.1:\(port)/healthz", client: client).status, status == 200 { return (child, port) }
            if !child.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        child.terminate()
        throw ServeDidNotStart(stderr: child.stderr)
    }

    static let testSecret = "test-secret-0123456789abcdef0123456789abcdef"

    struct ServeDidNotStart: Error, CustomStringConvertible {
        let stderr: String
        var description: String { "bcs serve did not start:\n\(stderr)" }
    }

    func get(_ url: String, client: HTTPClient = .shared) async throws -> (status: Int, body: String) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 4 << 20)))
    }

    @Test func helpAndVersionDocumentEverything() async throws {
        let top = try await ChildProcess.run(bcs, ["--help"])
        #expect(top.status == 0)
        #expect(top.stdout.contains("serve") && top.stdout.contains("version"))
        let serve = try await ChildProcess.run(bcs, ["serve", "--help"])
        #expect(serve.status == 0)
        for flag in ["--roles", "--listen", "--mongodb-uri", "--database", "--tls-cert", "--tls-key", "--log-level", "--log-format",
                     "--shutdown-timeout", "--mongodb-threads", "--readiness-interval", "--config", "BCS_MONGODB_URI", "/readyz", "SIGTERM",
                     "--secret-key-file", "BCS_SECRET_KEY", "--dev-generate-secret", "--bootstrap-admin", "BCS_BOOTSTRAP_ADMIN", "--credential-poll-interval"] {
            #expect(serve.stdout.contains(flag), "serve --help mentions \(flag)")
        }
        for setting in ServeConfiguration.settings {
            #expect(serve.stdout.contains("--\(setting.key) "), "every setting is a flag: --\(setting.key)")
            #expect(serve.stdout.contains(LayeredSettings.environmentName(for: setting.key)), "and an environment variable")
        }
        let version = try await ChildProcess.run(bcs, ["version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("bcs 0.1.0\n"))
        #expect(version.stdout.contains("libmongoc 1.23"))
    }

    static let badConfigurations: [(name: String, arguments: [String], environment: [String: String], message: String)] = [
        ("unknown role", ["--roles", "gateway,scheduler"], [:], "unknown role \"scheduler\""),
        ("unknown role from the environment", [], ["BCS_ROLES": "bogus"], "unknown role \"bogus\""),
        ("URI with the wrong scheme", ["--mongodb-uri", "http://127.0.0.1:27017"], [:], "invalid MongoDB URI"),
        ("malformed URI", ["--mongodb-uri", "mongodb://127.0.0.1:notaport"], [:], "invalid MongoDB URI"),
        ("unreadable TLS file", ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"], [:], "cannot read TLS certificate file /nonexistent/cert.pem"),
        ("TLS cert without key", ["--tls-cert", "/etc/hostname"], [:], "--tls-cert needs --tls-key"),
        ("TLS file that is not PEM", ["--tls-cert", "/etc/hostname", "--tls-key", "/etc/hostname"], [:], "holds no valid PEM certificate"),
        ("bad listen address", ["--listen", "localhost"], [:], "invalid listen address"),
        ("unknown log format", ["--log-format", "xml"], [:], "unknown log format \"xml\""),
        ("bad shutdown timeout", ["--shutdown-timeout", "0"], [:], "--shutdown-timeout must be a positive number"),
        ("missing config file", ["--config", "/nonexistent/bcs.yaml"], [:], "cannot read config file /nonexistent/bcs.yaml"),
    ]

    @Test(arguments: badConfigurations.indices)
    func badConfigurationExitsOneWithOneClearLine(index: Int) async throws {
        let bad = Self.badConfigurations[index]
        let result = try await ChildProcess.run(bcs, ["serve", "--mongodb-uri", mongoURI] + bad.arguments, environment: bad.environment, timeout: .seconds(20))
        #expect(result.status == 1, "\(bad.name): exit status")
        // libmongoc's own load-time initialiser warns about a /dev/shm file left by an earlier
        // SIGKILLed process that had this pid, before bcs can switch shared-memory counters off.
        let lines = result.stderr.split(separator: "\n").filter { !$0.contains("mongoc: Falling back to malloc for counters") }
        #expect(lines.count == 1, "\(bad.name): one line, got \(result.stderr)")
        #expect(lines.first?.hasPrefix("bcs: error: ") == true)
        #expect(result.stderr.contains(bad.message), "\(bad.name): \(result.stderr)")
    }

    @Test func portInUseExitsOneWithOneClearLine() async throws {
        let holder = try PortHolder()
        defer { holder.close() }
        let result = try await ChildProcess.run(bcs, ["serve", "--mongodb-uri", mongoURI, "--listen", "127.0.0.1:\(holder.port)"], timeout: .seconds(20))
        #expect(result.status == 1)
        #expect(result.stderr == "bcs: error: cannot listen on 127.0.0.1:\(holder.port): address already in use\n")
    }

    @Test func configFileWithUnknownSettingIsRejected() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-\(UUID()).yaml").path
        try "listne: 127.0.0.1:1\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await ChildProcess.run(bcs, ["serve", "--config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("unknown setting \"listne\""))
    }

    @Test func servesHealthReadinessMetricsAndExitsZeroOnSIGTERM() async throws {
        let (child, port) = try await startServe(["--shutdown-timeout", "5"])
        defer { child.terminate() }
        let base = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(10)
        while try await get("\(base)/readyz").status != 200, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await get("\(base)/readyz") == (200, "ok\n"))
        let metrics = try await get("\(base)/metrics")
        #expect(metrics.body.contains("bcs_mongodb_up 1"))
        #expect(metrics.body.contains("bcs_service_restarts_total{service=\"mongodb-readiness\"} 0"))

        let clock = ContinuousClock()
        let start = clock.now
        child.signal(SIGTERM)
        let status = await child.wait(timeout: .seconds(8))
        #expect(status == 0, "exit status after SIGTERM; stderr:\n\(child.stderr)")
        #expect(clock.now - start < .seconds(6), "exited within the 5 s bound")
        #expect(child.stderr.contains("shut down cleanly"))
        #expect(child.stderr.contains("serving plain HTTP"), "without TLS files the server warns")
    }

    @Test func sigintAlsoShutsDownCleanly() async throws {
        let (child, _) = try await startServe(["--roles", "storage"])
        defer { child.terminate() }
        child.signal(SIGINT)
        #expect(await child.wait(timeout: .seconds(10)) == 0)
        #expect(child.stderr.contains("roles=storage "))
    }

    @Test func flagsBeatEnvironmentBeatConfigFile() async throws {
        let (filePort, envPort, flagPort) = (try freePort(), try freePort(), try freePort())
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-\(UUID()).yaml").path
        try "listen: 127.0.0.1:\(filePort)\nroles: [storage]\nlog_level: debug\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }

        let (fromEnv, _) = try await startServe(["--config", path], environment: ["BCS_LISTEN": "127.0.0.1:\(envPort)"], port: envPort)
        fromEnv.signal(SIGTERM)
        #expect(await fromEnv.wait(timeout: .seconds(10)) == 0)
        #expect(fromEnv.stderr.contains("roles=storage "), "the file's roles apply when nothing overrides them")
        #expect(fromEnv.stderr.contains(" debug "), "the file's log level applies")

        let (fromFlag, _) = try await startServe(["--config", path, "--listen", "127.0.0.1:\(flagPort)"], environment: ["BCS_LISTEN": "127.0.0.1:\(envPort)"], port: flagPort)
        fromFlag.signal(SIGTERM)
        #expect(await fromFlag.wait(timeout: .seconds(10)) == 0)

        let (fromFile, _) = try await startServe(["--config", path], port: filePort)
        fromFile.signal(SIGTERM)
        #expect(await fromFile.wait(timeout: .seconds(10)) == 0)
    }

    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let (child, _) = try await startServe(["--log-format", "json"])
        child.signal(SIGTERM)
        #expect(await child.wait(timeout: .seconds(10)) == 0)
        let lines = child.stderr.split(separator: "\n")
        #expect(lines.count >= 3)
        var messages: [String] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            if let msg = object?["msg"] as? String { messages.append(msg) }
        }
        #expect(messages.contains("listening") && messages.contains("shut down cleanly"))
        #expect(!child.stderr.contains(mongoURI + "/"), "the raw URI (which may hold credentials) is never logged")
    }

    /// Audit records reach the log in the process's format, at `info` whatever `--log-level` says.
    @Test(arguments: ["text", "json"])
    func auditRecordsAreLoggedInTheChosenFormat(format: String) async throws {
        let (child, port) = try await startServe(["--roles", "usermanager,gateway", "--log-format", format, "--log-level", "warning"])
        defer { child.terminate() }
        #expect(try await get("http://127.0.0.1:\(port)/tunnels/clusters/BCS-K8S-AUDIT/api/v1/namespaces").status == 401)
        let deadline = ContinuousClock.now + .seconds(10)
        var audit: [String] = []
        while audit.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            audit = child.stderr.split(separator: "\n").map(String.init).filter { $0.contains("bcs.audit") }
        }
        let line = try #require(audit.first, "no audit line in: \(child.stderr.suffix(2000))")
        if format == "json" {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["logger"] as? String == "bcs.audit" && object["level"] as? String == "info" && object["msg"] as? String == "proxied", "\(line)")
            #expect(object["cluster"] as? String == "BCS-K8S-AUDIT" && object["status"] as? String == "401" && object["verb"] as? String == "GET", "\(line)")
            #expect(object["path"] as? String == "/api/v1/namespaces" && object["ts"] is String, "\(line)")
        } else {
            let pattern = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 info bcs\.audit: bytes=\d+ bytes_in=0 cluster=BCS-K8S-AUDIT latency_ms=\d+ path=/api/v1/namespaces status=401 user=- verb=GET \[BCSGateway\] proxied$/#
            #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
        }
    }

    @Test func servesHTTPSWithGivenCertificate() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-tls-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let openssl = try await ChildProcess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=bcs-test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
        ])
        #expect(openssl.status == 0, "openssl: \(openssl.stderr)")

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(cert))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        // The client must be shut down on every path (AsyncHTTPClient traps in deinit otherwise).
        do {
            try await checkHTTPS(cert: cert, key: key, client: client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func checkHTTPS(cert: String, key: String, client: HTTPClient) async throws {
        let (child, port) = try await startServe(["--tls-cert", cert, "--tls-key", key], scheme: "https", client: client)
        defer { child.terminate() }
        #expect(try await get("https://127.0.0.1:\(port)/healthz", client: client) == (200, "ok\n"))
        await #expect(throws: (any Error).self, "plain HTTP is not served on the TLS port") {
            _ = try await get("http://127.0.0.1:\(port)/healthz")
        }
        // A client that does not trust the certificate is refused.
        await #expect(throws: (any Error).self) { _ = try await get("https://127.0.0.1:\(port)/healthz") }
        child.signal(SIGTERM)
        #expect(await child.wait(timeout: .seconds(10)) == 0)
        #expect(!child.stderr.contains("serving plain HTTP"))
    }
}
