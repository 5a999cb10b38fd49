import BCSTestSupport
import Foundation
import NIOHTTP1
import Testing

@Suite("storage: alarms")
struct AlarmRoutesTests {
    @Test func postThenFilter() async throws {
        let storage = try await StorageFixture.start()
        let alarms: [[String: Any]] = (0..<10).map { i in
            [
                "clusterId": i < 6 ? "C-A" : "C-B", "namespace": i % 2 == 0 ? "default" : "prod", "message": "alarm \(i)",
                "source": i % 3 == 0 ? "kubelet" : "monitor", "module": "m\(i % 2)",
                "type": i % 2 == 0 ? "disk.full" : "cpu.high", "receivedTime": 1_700_000_000 + i, "data": ["value": i],
            ]
        }
        for alarm in alarms {
            let r = try await storage.send(.POST, "/alarms", body: alarm)
            #expect(r.status == 201 && r.code == 0, "\(r.body)")
        }
        func total(_ q: String) async throws -> Int? { try await storage.send(.GET, "/alarms?" + q).total }
        #expect(try await total("clusterId=C-A") == 6)
        #expect(try await total("namespace=prod") == 5)
        #expect(try await total("source=kubelet,nothing") == 4)
        #expect(try await total("module=m1&clusterId=C-B") == 2)
        #expect(try await total("type=disk") == 5, "type matches by containment")
        #expect(try await total("type=disk,cpu") == 10, "several types are OR-ed")
        #expect(try await total("timeBegin=1700000002&timeEnd=1700000007") == 4)
        let page = try await storage.send(.GET, "/alarms?length=3&offset=1")
        #expect(page.total == 10 && page.list.count == 3)
        #expect(page.list.first?["message"] as? String == "alarm 8", "newest received first")
        #expect(page.list.first?.at("data.value") as? Int == 8)
        await storage.stop()
    }
}
