import BCSTestSupport
import Foundation
import NIOHTTP1
import Testing

@Suite("storage: events")
struct EventRoutesTests {
    @Test func putThenQueryReturnsWhatWasSent() async throws {
        let storage = try await StorageFixture.start()
        let sent = StorageFixture.event(uid: "u-1", rv: "10", labels: ["app.kubernetes.io/name": "nginx", "100%": "yes"])
        let put = try await storage.send(.PUT, "/events", body: sent)
        #expect(put.status == 200 && put.code == 0, "\(put.body)")
        #expect((put.data as? [String: Int]) == ["inserted": 1, "updated": 0, "ignored": 0])

        let list = try await storage.send(.GET, "/events?clusterId=BCS-K8S-1")
        #expect(list.total == 1)
        let event = try #require(list.list.first)
        #expect(event["kind"] as? String == "Pod")
        #expect(event["env"] as? String == "k8s")
        #expect(event.at("extraInfo.namespace") as? String == "default")
        #expect(event.at("data.metadata.labels") as? [String: String] == ["app.kubernetes.io/name": "nginx", "100%": "yes"], "keys with dots come back as sent")
        #expect(event["eventTime"] as? String == "2023-11-14T22:13:20.000Z")
        #expect(event["_uid"] == nil && event["_rv"] == nil, "internal fields are not returned")
        #expect(event["_id"] is String && event["createTime"] is String)

        // The gateway path of a co-hosted storage role answers the same.
        let viaGateway = try await storage.serve.send(.GET, "/bcsapi/v4/storage/events?clusterId=BCS-K8S-1")
        #expect(viaGateway.total == 1)
        await storage.stop()
    }

    @Test func writesAreIdempotentAndNewerVersionsWin() async throws {
        let storage = try await StorageFixture.start()
        let first = StorageFixture.event(uid: "u-1", rv: "10", count: 1)
        #expect(try await storage.send(.PUT, "/events", body: first).data as? [String: Int] == ["inserted": 1, "updated": 0, "ignored": 0])
        #expect(try await storage.send(.PUT, "/events", body: first).data as? [String: Int] == ["inserted": 0, "updated": 0, "ignored": 1], "same event twice")
        let newer = StorageFixture.event(uid: "u-1", rv: "12", time: 1_700_000_060, count: 3)
        #expect(try await storage.send(.PUT, "/events", body: newer).data as? [String: Int] == ["inserted": 0, "updated": 1, "ignored": 0])
        let older = StorageFixture.event(uid: "u-1", rv: "11", time: 1_700_000_030, count: 2)
        #expect(try await storage.send(.PUT, "/events", body: older).data as? [String: Int] == ["inserted": 0, "updated": 0, "ignored": 1])

        let list = try await storage.send(.GET, "/events")
        #expect(list.total == 1, "one document per (clusterId, uid)")
        #expect(list.list.first?.at("data.count") as? Int == 3, "the newest resourceVersion's count is kept")
        #expect(list.list.first?.at("data.metadata.resourceVersion") as? String == "12")
        #expect(list.list.first?["eventTime"] as? String == "2023-11-14T22:14:20.000Z")

        // The same uid in another cluster is another event.
        _ = try await storage.send(.PUT, "/events", body: StorageFixture.event(cluster: "BCS-K8S-2", uid: "u-1", rv: "1"))
        #expect(try await storage.send(.GET, "/events").total == 2)
        await storage.stop()
    }

    @Test func batchDeduplicatesInsideAndAgainstStoredVersions() async throws {
        let storage = try await StorageFixture.start()
        _ = try await storage.send(.PUT, "/events", body: StorageFixture.event(uid: "stored", rv: "50", count: 50))
        let batch: [[String: Any]] = [
            StorageFixture.event(uid: "a", rv: "5", count: 5),
            StorageFixture.event(uid: "a", rv: "7", count: 7),
            StorageFixture.event(uid: "a", rv: "6", count: 6),
            StorageFixture.event(uid: "b", rv: "1", count: 1),
            StorageFixture.event(uid: "stored", rv: "40", count: 40),
            StorageFixture.event(uid: nil, count: 100),
            StorageFixture.event(uid: nil, count: 101),
        ]
        let result = try await storage.send(.POST, "/events/batch", body: batch)
        #expect(result.status == 200, "\(result.body)")
        #expect(result.data as? [String: Int] == ["inserted": 4, "updated": 0, "ignored": 3])
        // Retrying the whole batch (a client that timed out) changes nothing but the uid-less events.
        let retry = try await storage.send(.POST, "/events/batch", body: ["events": batch])
        #expect(retry.data as? [String: Int] == ["inserted": 2, "updated": 0, "ignored": 5])

        let all = try await storage.send(.GET, "/events?length=100")
        #expect(all.total == 7)
        let counts = all.list.compactMap { $0.at("data.count") as? Int }.sorted()
        #expect(counts == [1, 7, 50, 100, 100, 101, 101])
        await storage.stop()
    }

    @Test func filtersPagingProjectionAndTotal() async throws {
        let storage = try await StorageFixture.start()
        var batch: [[String: Any]] = []
        for i in 0..<30 {
            batch.append(StorageFixture.event(
                cluster: i % 3 == 0 ? "C-A" : "C-B", uid: "u\(i)", rv: "1", time: 1_700_000_000 + i,
                namespace: i % 2 == 0 ? "default" : "kube-system", name: "obj\(i % 5)", kind: i % 4 == 0 ? "Node" : "Pod",
                level: i % 5 == 0 ? "Normal" : "Warning", type: i % 2 == 0 ? "BackOff" : "Pulled",
                component: i % 3 == 1 ? "scheduler" : "kubelet", describe: "message (\(i)) a.b*c"
            ))
        }
        #expect(try await storage.send(.POST, "/events/batch", body: batch).status == 200)

        func query(_ q: String) async throws -> HTTPResult {
            let r = try await storage.send(.GET, "/events?" + q)
            #expect(r.status == 200, "\(q): \(r.body)")
            return r
        }
        #expect(try await query("clusterId=C-A").total == 10)
        #expect(try await query("clusterId=C-A,C-B").total == 30)
        #expect(try await query("kind=Node").total == 8)
        #expect(try await query("level=Normal&clusterId=C-B").total == 4)
        #expect(try await query("type=Pulled").total == 15)
        #expect(try await query("component=scheduler").total == 10)
        #expect(try await query("env=k8s").total == 30)
        #expect(try await query("id=obj1-u1,obj2-u2").total == 2)
        #expect(try await query("extraInfo.namespace=kube-system").total == 15)
        #expect(try await query("extraInfo.name=obj0,obj1").total == 12)
        #expect(try await query("extraInfo.kind=Node").total == 8)
        #expect(try await query("timeBegin=1700000010&timeEnd=1700000020").total == 9, "strict bounds")
        #expect(try await query("clusterId=nope").total == 0)

        let page = try await query("length=7&offset=5")
        #expect(page.total == 30, "total counts every match, not the page")
        #expect(page.list.count == 7)
        let times = page.list.compactMap { $0["eventTime"] as? String }
        #expect(times == times.sorted(by: >), "newest first")
        #expect(times.first == ISO8601DateFormatter.withMillis.string(from: Date(timeIntervalSince1970: 1_700_000_024)))
        #expect(try await query("length=0").list.count == 30, "length 0 means the default page (100)")
        #expect(try await query("offset=29").list.count == 1)

        let projected = try await query("field=data.count,eventTime&clusterId=C-A&length=1")
        let first = try #require(projected.list.first)
        #expect(Set(first.keys).subtracting(["_id"]) == ["data", "eventTime"], "\(first)")
        #expect((first["data"] as? [String: Any])?.keys.sorted() == ["count"])

        let extra = try StorageFixture.base64(["data.reason": ["BackOff", "Nothing"], "extraInfo.name": "obj0"])
        #expect(try await query("extra=\(extra)").total == 3)
        let contain = try StorageFixture.base64(["describe": "(1"])
        #expect(try await query("extra_contain=\(contain)").total == 11, "contains, with regex characters taken literally")
        let literal = try StorageFixture.base64(["describe": "a.b*c"])
        #expect(try await query("extra_contain=\(literal)").total == 30)
        let noMatch = try StorageFixture.base64(["describe": "a.b.c"])
        #expect(try await query("extra_contain=\(noMatch)").total == 0, "'.' is not a wildcard")
        await storage.stop()
    }
}

extension ISO8601DateFormatter {
    static var withMillis: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
