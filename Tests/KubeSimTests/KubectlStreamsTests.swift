import BCSTestSupport
import Foundation
import Testing

/// Streams kubectl reads: `logs -f`, `get events --watch` with `--event-rate`, and exec over WebSocket.
@Suite("kube-sim logs, events, exec", .serialized)
struct KubectlStreamsTests {
    static let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"shell","labels":{"app":"shell"}},"spec":{"containers":[{"name":"main","image":"busybox"}]}}"#

    /// kubectl 1.29 uses WebSocket exec only when asked; 1.30+ by default (kubectl-wire.md §5).
    static let webSocketEnvironment = ["KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true"]

    /// Forces SPDY/3.1 exec: kubectl 1.29's default, 1.30+'s fallback (kubectl-wire.md §6).
    static let spdyEnvironment = ["KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"]

    private func shell(_ sim: KubeSimHarness, _ version: String, _ command: String,
                       environment: [String: String] = webSocketEnvironment) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let kubectl = try KubeSimHarness.kubectlPath(version)
        let base = "'\(kubectl)' --kubeconfig '\(sim.kubeconfig)' --cache-dir '\(sim.directory)/cache-\(version)'"
        return try await ChildProcess.run("/bin/sh", ["-c", command.replacingOccurrences(of: "KUBECTL", with: base)], environment: environment)
    }

    @Test("exec -i -- cat round-trips stdin; sh -c 'exit 3' returns 3; echo, hostname, env", arguments: KubeSimHarness.kubectlVersions)
    func exec(version: String) async throws {
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let cat = try await shell(sim, version, "printf 'hello\\nworld\\n' | KUBECTL exec -i shell -- cat")
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout == "hello\nworld\n")
        let exit3 = try await shell(sim, version, "KUBECTL exec shell -- sh -c 'exit 3'")
        #expect(exit3.status == 3, "\(exit3.stderr)")
        #expect(exit3.stderr.contains("command terminated with exit code 3"))
        let echo = try await shell(sim, version, "KUBECTL exec shell -- sh -c 'echo \"a  b\" && hostname; false || env'")
        #expect(echo.status == 0, "\(echo.stderr)")
        #expect(echo.stdout.hasPrefix("a  b\nshell\n"), "\(echo.stdout)")
        #expect(echo.stdout.contains("HOSTNAME=shell\n"))
        let missing = try await shell(sim, version, "KUBECTL exec shell -- nosuchtool")
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("nosuchtool: not found"))
    }

    @Test("exec over SPDY/3.1: -i -- cat round-trips stdin; sh -c 'exit 3' returns 3; stderr kept apart", arguments: KubeSimHarness.kubectlVersions)
    func execOverSPDY(version: String) async throws {
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let cat = try await shell(sim, version, "printf 'hello\\nworld\\n' | KUBECTL exec -i shell -- cat", environment: Self.spdyEnvironment)
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout == "hello\nworld\n")
        let exit3 = try await shell(sim, version, "KUBECTL exec shell -- sh -c 'exit 3'", environment: Self.spdyEnvironment)
        #expect(exit3.status == 3, "\(exit3.stderr)")
        #expect(exit3.stderr.contains("command terminated with exit code 3"))
        let missing = try await shell(sim, version, "KUBECTL exec shell -- nosuchtool 2>/dev/null; echo rc=$?", environment: Self.spdyEnvironment)
        #expect(missing.stdout == "rc=127\n", "\(missing.stdout) \(missing.stderr)")
        let echo = try await shell(sim, version, "KUBECTL exec shell -- sh -c 'echo one; hostname'", environment: Self.spdyEnvironment)
        #expect(echo.status == 0, "\(echo.stderr)")
        #expect(echo.stdout == "one\nshell\n")
    }

    @Test("attach shows the main process's heartbeats as they come and echoes stdin, over WebSocket and SPDY",
          arguments: [("1.29", [String: String]()), ("1.33", [:]), ("1.33", spdyEnvironment)])
    func attach(version: String, environment: [String: String]) async throws {
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let kubectl = try KubeSimHarness.kubectlPath(version)
        // The process never exits, so kubectl attach never ends by itself: read, then stop it (by the pid sh reports).
        let pidFile = sim.directory + "/attach.pid"
        let attached = try ChildProcess("/bin/sh", ["-c", "(printf 'typed in\\n'; sleep 4) | '\(kubectl)' --kubeconfig '\(sim.kubeconfig)' --cache-dir '\(sim.directory)/cache' attach -i shell & echo $! > '\(pidFile)'; wait"],
                                        environment: environment)
        defer {
            if let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) { kill(pid, SIGKILL) }
            attached.terminate()
        }
        #expect(try await KubeSimHarness.eventually { attached.stdout.contains("typed in\n") && attached.stdout.contains(" main heartbeat ") },
                "\(attached.stdout) \(attached.stderr)")
        let before = attached.stdout.components(separatedBy: " heartbeat ").count
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(5)) { attached.stdout.components(separatedBy: " heartbeat ").count > before })
    }

    @Test("a refused upgrade gets the apiserver's Status: NotFound for a missing pod, Unauthorized for a bad token; BadRequest without an upgrade")
    func refusedUpgrades() async throws {
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let result = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--http1.1", "--cacert", sim.caFile, "-H", "Authorization: Bearer \(sim.token)", "-X", "POST",
                                                                 "-H", "Connection: Upgrade", "-H", "Upgrade: SPDY/3.1", "-H", "X-Stream-Protocol-Version: v4.channel.k8s.io",
                                                                 "-w", "\n%{http_code}", sim.url + "/api/v1/namespaces/default/pods/nope/exec?command=ls&stdout=true"])
        #expect(result.stdout.hasSuffix("\n404"), "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains(#""reason":"NotFound""#))
        let webSocket = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--http1.1", "--cacert", sim.caFile, "-H", "Authorization: Bearer wrong",
                                                                    "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
                                                                    "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Protocol: v5.channel.k8s.io",
                                                                    "-w", "\n%{http_code}", sim.url + "/api/v1/namespaces/default/pods/shell/exec?command=ls&stdout=true"])
        #expect(webSocket.stdout.hasSuffix("\n401"), "\(webSocket.stdout) \(webSocket.stderr)")
        #expect(webSocket.stdout.contains(#""reason":"Unauthorized""#))
        let plain = try await sim.curl("/api/v1/namespaces/default/pods/shell/exec?command=ls&stdout=true", method: "POST")
        #expect(plain.code == 400)
        #expect(plain.body.contains("Upgrade request required"))
    }

    @Test("logs -f streams a new line about every second", arguments: KubeSimHarness.kubectlVersions)
    func followLogs(version: String) async throws {
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let follower = try sim.startKubectl(version, ["logs", "-f", "shell"])
        defer { follower.terminate() }
        #expect(try await KubeSimHarness.eventually { follower.stdout.contains("heartbeat 0 ") }, "\(follower.stderr)")
        #expect(try await KubeSimHarness.eventually(timeout: .seconds(10)) { follower.stdout.contains("heartbeat 2 ") }, "\(follower.stdout)")
        #expect(follower.isRunning)
        let tail = try await sim.kubectl(version, ["logs", "shell", "--tail=1", "--timestamps"])
        #expect(tail.stdout.split(separator: "\n").count == 1, "\(tail.stdout)")
        #expect(tail.stdout.first?.isNumber == true)
    }

    @Test("get events --watch shows generated events; repeated ones raise their count", arguments: KubeSimHarness.kubectlVersions)
    func generatedEvents(version: String) async throws {
        let sim = try await KubeSimHarness(["--event-rate", "20"])
        let watcher = try sim.startKubectl(version, ["get", "events", "-A", "--watch"])
        defer { watcher.terminate() }
        #expect(try await KubeSimHarness.eventually {
            watcher.stdout.split(separator: "\n").count > 20
        }, "\(watcher.stdout)\n\(watcher.stderr)")
        #expect(watcher.stdout.contains("kube-system") && watcher.stdout.contains("default"))
        #expect(watcher.stdout.contains("Normal"))
        let json = try await sim.kubectl(version, ["get", "events", "-A", "-o", "jsonpath={range .items[*]}{.count}{\"\\n\"}{end}"])
        let counts = json.stdout.split(separator: "\n").compactMap { Int($0) }
        #expect(!counts.isEmpty)
        #expect(counts.contains { $0 > 1 }, "no repeated event among \(counts.count)")
    }
}
