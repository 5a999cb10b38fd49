import BCSTestSupport
import Foundation
import NIOHTTP1
import Testing

@Suite("storage: dynamic resources")
struct DynamicResourceTests {
    static let ns = "/k8s/dynamic/namespace_resources/clusters/BCS-K8S-1/namespaces"
    static let cluster = "/k8s/dynamic/cluster_resources/clusters/BCS-K8S-1"
    static let all = "/k8s/dynamic/all_resources/clusters/BCS-K8S-1"

    static func pod(_ name: String, labels: [String: String], phase: String = "Running") -> [String: Any] {
        ["data": ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": name, "labels": labels], "status": ["phase": phase]]]
    }

    @Test func putKeepsCreateTimeAndRefreshesUpdateTime() async throws {
        let storage = try await StorageFixture.start()
        let path = "\(Self.ns)/default/Pod/web-1"
        let created = try await storage.send(.PUT, path, body: Self.pod("web-1", labels: ["app": "web"], phase: "Pending"))
        #expect(created.status == 201 && created.code == 0, "\(created.body)")
        let first = try #require(try await storage.send(.GET, path).data as? [String: Any])
        #expect(first["clusterId"] as? String == "BCS-K8S-1")
        #expect(first["namespace"] as? String == "default")
        #expect(first["resourceType"] as? String == "Pod")
        #expect(first["resourceName"] as? String == "web-1")
        #expect(first.at("data.status.phase") as? String == "Pending")
        try await Task.sleep(for: .milliseconds(20))
        let updated = try await storage.send(.PUT, path, body: Self.pod("web-1", labels: ["app": "web"], phase: "Running"))
        #expect(updated.status == 200)
        let second = try #require(try await storage.send(.GET, path).data as? [String: Any])
        #expect(second.at("data.status.phase") as? String == "Running")
        #expect(second["createTime"] as? String == first["createTime"] as? String, "createTime kept")
        let (u1, u2) = (first["updateTime"] as? String ?? "", second["updateTime"] as? String ?? "")
        #expect(u2 > u1, "updateTime refreshed: \(u1) → \(u2)")
        #expect(try await storage.send(.GET, "\(Self.ns)/default/Pod").total == 1)
        await storage.stop()
    }

    @Test func listFiltersByLabelsExtraScopeAndPages() async throws {
        let storage = try await StorageFixture.start()
        for i in 0..<12 {
            let ns = i < 8 ? "default" : "prod"
            let labels: [String: String] = [
                "app": i % 3 == 0 ? "web" : (i % 3 == 1 ? "db" : "cache"),
                "app.kubernetes.io/part-of": i % 2 == 0 ? "shop" : "blog",
            ].merging(i == 5 ? ["canary": "true"] : [:]) { a, _ in a }
            #expect(try await storage.send(.PUT, "\(Self.ns)/\(ns)/Pod/pod-\(String(format: "%02d", i))", body: Self.pod("pod-\(i)", labels: labels)).code == 0)
        }
        _ = try await storage.send(.PUT, "\(Self.cluster)/Node/node-1", body: ["data": ["metadata": ["name": "node-1", "labels": ["app": "web"]]]])
        _ = try await storage.send(.PUT, "\(Self.ns)/default/Deployment/web", body: ["data": ["metadata": ["name": "web"]]])

        func names(_ path: String) async throws -> [String] {
            let r = try await storage.send(.GET, path)
            #expect(r.status == 200, "\(path): \(r.body)")
            return r.list.compactMap { $0["resourceName"] as? String }
        }
        #expect(try await names("\(Self.ns)/default/Pod").count == 8)
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=app%3Dweb") == ["pod-00", "pod-03", "pod-06"])
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=app%21%3Dweb").count == 5)
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=app%20in%20(db,cache)").count == 5)
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=app%20notin%20(db,cache)") == ["pod-00", "pod-03", "pod-06"])
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=canary") == ["pod-05"])
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=%21canary").count == 7)
        #expect(try await names("\(Self.ns)/default/Pod?labelSelector=app.kubernetes.io/part-of%3Dshop,app%3D%3Dweb") == ["pod-00", "pod-06"])
        let extra = try StorageFixture.base64(["data.metadata.name": ["pod-1", "pod-2"]])
        #expect(try await names("\(Self.ns)/default/Pod?extra=\(extra)") == ["pod-01", "pod-02"])
        #expect(try await names("\(Self.all)/Pod").count == 12, "all namespaces")
        #expect(try await names("\(Self.cluster)/Node") == ["node-1"], "cluster scope")
        let node = try await storage.send(.GET, "\(Self.cluster)/Node/node-1")
        #expect((node.data as? [String: Any])?["namespace"] as? String == "", "cluster-scoped objects have no namespace")
        #expect(try await storage.send(.GET, "\(Self.ns)/default/Node/node-1").status == 404, "not found in a namespace")
        #expect(try await names("\(Self.cluster)/Pod").isEmpty, "namespaced pods are not cluster-scoped")
        let page = try await storage.send(.GET, "\(Self.all)/Pod?limit=5&offset=10")
        #expect(page.total == 12 && page.list.count == 2)
        let projected = try await storage.send(.GET, "\(Self.ns)/prod/Pod?field=resourceName,data.metadata.labels&limit=1")
        let item = try #require(projected.list.first)
        #expect(Set(item.keys).subtracting(["_id"]) == ["resourceName", "data"])
        #expect(item.at("data.metadata.labels") as? [String: String] == ["app": "cache", "app.kubernetes.io/part-of": "shop"])
        await storage.stop()
    }

    @Test func deleteOneAndBatches() async throws {
        let storage = try await StorageFixture.start()
        for name in ["a", "b", "c"] { _ = try await storage.send(.PUT, "\(Self.ns)/default/ConfigMap/\(name)", body: ["data": ["k": name]]) }
        _ = try await storage.send(.PUT, "\(Self.ns)/other/ConfigMap/x", body: ["data": ["k": "x"]])
        #expect(try await storage.send(.DELETE, "\(Self.ns)/default/ConfigMap/a").status == 200)
        let again = try await storage.send(.DELETE, "\(Self.ns)/default/ConfigMap/a")
        #expect(again.status == 404 && again.code == 1405084)
        let missing = try await storage.send(.GET, "\(Self.ns)/default/ConfigMap/a")
        #expect(missing.status == 404 && missing.code == 1405087 && missing.message == "resource does not exist.")

        let future = Int(Date().timeIntervalSince1970) + 3600
        let none = try await storage.send(.DELETE, "\(Self.ns)/default/ConfigMap", body: ["updateTimeBegin": future])
        #expect((none.data as? [String: Int])?["deleted"] == 0, "the update-time window matches nothing")
        let batch = try await storage.send(.DELETE, "\(Self.ns)/default/ConfigMap")
        #expect((batch.data as? [String: Int])?["deleted"] == 2)
        #expect(try await storage.send(.GET, "\(Self.all)/ConfigMap").total == 1, "other namespaces untouched")
        #expect((try await storage.send(.DELETE, "\(Self.all)/ConfigMap").data as? [String: Int])?["deleted"] == 1)
        await storage.stop()
    }
}
