import BCSTestSupport
import Foundation
import Testing

/// A `bcs kube-sim` process started for one test, plus kubectl and curl aimed at it.
final class KubeSimHarness: Sendable {
    let process: ChildProcess
    let url: String
    let directory: String
    let token: String
    var kubeconfig: String { directory + "/kubeconfig" }
    var caFile: String { directory + "/incluster/ca.crt" }

    /// The kubectl minor versions the end-to-end tests run with (from the kubectl Debian package).
    static let kubectlVersions = ["1.29", "1.33"]

    static func kubectlPath(_ version: String) throws -> String {
        let path = "/usr/lib/google-cloud-sdk/bin/kubectl.\(version)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingTool(description: "kubectl \(version) not found at \(path): install the kubectl Debian package (it carries 1.27–1.33)")
        }
        return path
    }

    struct MissingTool: Error, CustomStringConvertible { let description: String }
    struct DidNotStart: Error, CustomStringConvertible { let description: String }

    init(_ extra: [String] = [], token: String = "test-token-\(UUID().uuidString.prefix(8))") async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kube-sim-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let process = try ChildProcess(try TestEnvironment.bcsBinary(), [
            "kube-sim", "--listen", "127.0.0.1:0", "--token", token,
            "--kubeconfig-out", directory + "/kubeconfig", "--incluster-dir", directory + "/incluster",
        ] + extra)
        let deadline = ContinuousClock.now + .seconds(30)
        var url: String?
        while ContinuousClock.now < deadline, process.isRunning {
            if let line = process.stdout.split(separator: "\n").first, line.hasPrefix("https://") { url = String(line); break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let url else {
            process.terminate()
            throw DidNotStart(description: "kube-sim printed no URL; stderr: \(process.stderr)")
        }
        self.process = process
        self.url = url
        self.directory = directory
        self.token = token
    }

    deinit {
        // SIGTERM first: libmongoc, linked into `bcs`, leaves /dev/shm/mongoc-<pid> behind on
        // SIGKILL, and a later process reusing that pid then warns on stderr.
        if process.isRunning { process.signal(SIGTERM) }
        let deadline = Date().addingTimeInterval(6)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        process.terminate()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs kubectl of `version` against the simulator with a private discovery cache.
    func kubectl(_ version: String, _ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (status: Int32?, stdout: String, stderr: String) {
        try await ChildProcess.run(try Self.kubectlPath(version),
                                   ["--kubeconfig", kubeconfig, "--cache-dir", directory + "/cache-\(version)"] + arguments, timeout: timeout)
    }

    func startKubectl(_ version: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(try Self.kubectlPath(version), ["--kubeconfig", kubeconfig, "--cache-dir", directory + "/cache-\(version)"] + arguments)
    }

    /// Sends one request with curl, trusting the simulator's CA; returns the HTTP status and body.
    func curl(_ path: String, method: String = "GET", body: String? = nil, contentType: String = "application/json", token: String? = nil,
              accept: String? = nil, timeout: Duration = .seconds(20)) async throws -> (code: Int, body: String, contentType: String) {
        var arguments = ["-sS", "--cacert", caFile, "-H", "Authorization: Bearer \(token ?? self.token)", "-X", method, "-w", "\n%{content_type}\n%{http_code}"]
        if let body { arguments += ["-H", "Content-Type: \(contentType)", "--data-binary", body] }
        if let accept { arguments += ["-H", "Accept: \(accept)"] }
        let result = try await ChildProcess.run("/usr/bin/curl", arguments + [url + path], timeout: timeout)
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let code = Int(lines.popLast() ?? "") ?? -1
        let type = lines.popLast() ?? ""
        return (code, lines.joined(separator: "\n"), type)
    }

    /// Writes a manifest file for `kubectl -f`.
    func manifest(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Polls `condition` until it holds or `timeout` passes.
    static func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
