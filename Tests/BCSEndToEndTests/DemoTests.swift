import BCSTestSupport
import Foundation
import Testing

/// The README's first command, as a newcomer runs it: `scripts/demo` starts everything, says it is
/// ready, the commands it prints work, and Ctrl-C (SIGINT) stops everything it started.
@Suite("demo", .serialized)
struct DemoTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func theDemoRunsItsPrintedCommandsAndStopsCleanly() async throws {
        let port = try freePort(), mongoPort = try freePort()
        let dir = NSTemporaryDirectory() + "bcs-demo-\(UUID().uuidString.prefix(8))"
        // The test runner's children start with SIGINT ignored (or blocked), and bash cannot trap a
        // signal ignored on entry; a terminal's Ctrl-C meets the default disposition, so restore it.
        let launcher = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM]); signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv('/bin/bash', ['bash', sys.argv[1]])"
        let demo = try ChildProcess("/usr/bin/python3", ["-c", launcher, Self.repository + "/scripts/demo"], environment: [
            "BCS_BINARY": try TestEnvironment.bcsBinary(), "BCS_DEMO_PORT": "\(port)", "BCS_DEMO_MONGO_PORT": "\(mongoPort)", "BCS_DEMO_DIR": dir,
        ])
        defer { demo.terminate() }
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline, demo.isRunning, !demo.stdout.contains("BCS demo ready") {
            try await Task.sleep(for: .milliseconds(200))
        }
        try #require(demo.stdout.contains("BCS demo ready"), "stdout: \(demo.stdout)\nstderr: \(demo.stderr.suffix(3000))")

        // Every printed kubectl and curl command works.
        let commands = demo.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.contains("kubectl") || $0.hasPrefix("curl ") }
        #expect(commands.count >= 5, "\(demo.stdout)")
        for command in commands {
            let result = try await ChildProcess.run("/bin/sh", ["-c", command], timeout: .seconds(60))
            #expect(result.status == 0 && !result.stdout.isEmpty, "\(command): \(result.stderr)")
        }
        // k8s-watch ships each cluster's events through the gateway into storage.
        let events = try #require(commands.first { $0.contains("/bcsapi/v4/storage/events") })
        var stored = false
        for _ in 0..<60 where !stored {
            let result = try await ChildProcess.run("/bin/sh", ["-c", events])
            stored = ((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any])?["total"] as? Int ?? 0 > 0
            if !stored { try await Task.sleep(for: .seconds(1)) }
        }
        #expect(stored, "events stored for BCS-K8S-001")
        // Both clusters answer, one of them through its agent's tunnel.
        let status = try #require(commands.first { $0.contains("/gateway/v1/clusters") })
        let clusters = try await ChildProcess.run("/bin/sh", ["-c", status]).stdout
        #expect(clusters.contains("\"mode\":\"tunnel\"") && clusters.contains("BCS-K8S-001"), "\(clusters)")

        demo.signal(SIGINT)
        #expect(await demo.wait(timeout: .seconds(60)) == 0, "\(demo.stderr.suffix(2000))")
        let leftovers = try await ChildProcess.run("/usr/bin/pgrep", ["-f", "\(dir)|127.0.0.1:\(port)|127.0.0.1:\(mongoPort)"])
        #expect(leftovers.stdout.isEmpty, "processes left behind: \(leftovers.stdout)")
        try? FileManager.default.removeItem(atPath: dir)
    }
}
