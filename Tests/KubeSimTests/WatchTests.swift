import BCSTestSupport
import Foundation
import Testing

/// `watch=1` streams: resumption from the window, 410 beyond it, bookmarks, and `kubectl get -w`.
@Suite("kube-sim watch", .serialized)
struct WatchTests {
    private func configMap(_ name: String, _ value: String) -> String {
        #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\#(name)"},"data":{"v":"\#(value)"}}"#
    }

    private func resourceVersion(_ body: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        return try #require((object?["metadata"] as? [String: Any])?["resourceVersion"] as? String)
    }

    private func events(_ body: String) throws -> [(type: String, name: String?, code: Int?)] {
        try body.split(separator: "\n").map { line in
            let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let object = event["object"] as? [String: Any]
            return (event["type"] as? String ?? "", (object?["metadata"] as? [String: Any])?["name"] as? String, object?["code"] as? Int)
        }
    }

    @Test("a watch from an old-but-valid resourceVersion replays exactly the missed changes")
    func resumption() async throws {
        let sim = try await KubeSimHarness()
        let path = "/api/v1/namespaces/default/configmaps"
        let first = try await sim.curl(path, method: "POST", body: configMap("a", "1"))
        let seen = try resourceVersion(first.body)
        _ = try await sim.curl(path, method: "POST", body: configMap("b", "1"))
        let patched = try await sim.curl(path + "/a", method: "PATCH", body: #"{"data":{"v":"2"}}"#, contentType: "application/merge-patch+json")
        #expect(patched.code == 200, "\(patched.body)")
        _ = try await sim.curl(path + "/b", method: "DELETE")
        // A change elsewhere must not show up in a namespaced configmap watch.
        _ = try await sim.curl("/api/v1/namespaces/kube-system/configmaps", method: "POST", body: configMap("c", "1"))

        let watch = try await sim.curl(path + "?watch=1&resourceVersion=\(seen)&timeoutSeconds=1")
        #expect(watch.code == 200)
        let replayed = try events(watch.body)
        #expect(replayed.map(\.type) == ["ADDED", "MODIFIED", "DELETED"], "\(watch.body)")
        #expect(replayed.map(\.name) == ["b", "a", "b"])
    }

    @Test("a selector watch sees an object entering the selection as ADDED and leaving it as DELETED")
    func selectorTransitions() async throws {
        let sim = try await KubeSimHarness()
        let path = "/api/v1/namespaces/default/configmaps"
        let created = try await sim.curl(path, method: "POST", body: configMap("m", "0"))
        let seen = try resourceVersion(created.body)
        let label = { (value: String) in #"{"metadata":{"labels":{"tier":"\#(value)"}}}"# }
        for value in ["web", "web", "db"] {
            _ = try await sim.curl(path + "/m", method: "PATCH", body: label(value), contentType: "application/merge-patch+json")
        }
        _ = try await sim.curl(path + "/m", method: "PATCH", body: #"{"data":{"v":"9"}}"#, contentType: "application/merge-patch+json")
        let watch = try await sim.curl(path + "?watch=1&labelSelector=tier%3Dweb&resourceVersion=\(seen)&timeoutSeconds=1")
        // The second "web" patch changes nothing, so no event; the last change is outside the selection.
        #expect(try events(watch.body).map(\.type) == ["ADDED", "DELETED"], "\(watch.body)")
    }

    @Test("a watch from a resourceVersion older than the window gets 410 Expired")
    func tooOld() async throws {
        let sim = try await KubeSimHarness(["--watch-window", "3"])
        let path = "/api/v1/namespaces/default/configmaps"
        let first = try await sim.curl(path, method: "POST", body: configMap("a", "0"))
        let old = try resourceVersion(first.body)
        for value in 1...4 {
            _ = try await sim.curl(path + "/a", method: "PATCH", body: #"{"data":{"v":"\#(value)"}}"#, contentType: "application/merge-patch+json")
        }
        let watch = try await sim.curl(path + "?watch=1&resourceVersion=\(old)&timeoutSeconds=1")
        let received = try events(watch.body)
        #expect(received.count == 1)
        #expect(received.first?.type == "ERROR")
        #expect(received.first?.code == 410)
        #expect(watch.body.contains("\"reason\":\"Expired\""))
        // The newest three changes are still in the window.
        let latest = try resourceVersion(try await sim.curl(path + "/a").body)
        let recent = try await sim.curl(path + "?watch=1&resourceVersion=\(Int(latest)! - 2)&timeoutSeconds=1")
        #expect(try events(recent.body).map(\.type) == ["MODIFIED", "MODIFIED"], "\(recent.body)")
    }

    @Test("allowWatchBookmarks sends BOOKMARK events and timeoutSeconds ends the stream")
    func bookmarks() async throws {
        let sim = try await KubeSimHarness(["--bookmark-interval", "0.3"])
        let started = ContinuousClock.now
        let watch = try await sim.curl("/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&resourceVersion=1&timeoutSeconds=1")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(try events(watch.body).contains { $0.type == "BOOKMARK" }, "\(watch.body)")
    }

    @Test("kubectl get pods -w sees a pod created after the watch started", arguments: KubeSimHarness.kubectlVersions)
    func kubectlWatch(version: String) async throws {
        let sim = try await KubeSimHarness()
        let pod = { (name: String) in #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)"},"spec":{"containers":[{"name":"main","image":"nginx"}]}}"# }
        _ = try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: pod("before"))
        let watcher = try sim.startKubectl(version, ["get", "pods", "-w"])
        defer { watcher.terminate() }
        #expect(try await KubeSimHarness.eventually { watcher.stdout.contains("before") }, "\(watcher.stderr)")
        try await Task.sleep(for: .milliseconds(300))
        let created = try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: pod("after"))
        #expect(created.code == 201)
        #expect(try await KubeSimHarness.eventually { watcher.stdout.contains("after") }, "\(watcher.stdout)\n\(watcher.stderr)")
        let line = watcher.stdout.split(separator: "\n").first { $0.hasPrefix("after") }
        #expect(line?.contains("Running") == true)
    }
}
