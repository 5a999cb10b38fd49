import BCSMongo
import BCSTestSupport
import Foundation
import NIOHTTP1
import Testing

@testable import BCSStorage

@Suite("storage: retention, indexes, outages")
struct RetentionAndOutageTests {
    @Test func retentionRemovesByAgeAndByPerClusterCap() async throws {
        let client = try MongoClient(uri: MongoURI(TestEnvironment.mongoURI()))
        let events = client.database(TestEnvironment.uniqueName("retention")).collection("events")
        let now = Date()
        var documents: [BSONDocument] = []
        for i in 0..<30 {
            documents.append(["clusterId": "big", "eventTime": .datetime(1_700_000_000_000 + Int64(i) * 1000), "n": .int32(Int32(i)), "createTime": .date(now)])
        }
        for i in 0..<5 {
            documents.append(["clusterId": "small", "eventTime": .datetime(1_700_000_000_000 + Int64(i) * 1000), "n": .int32(Int32(i)), "createTime": .date(now)])
        }
        for i in 0..<4 {
            documents.append(["clusterId": "small", "eventTime": .datetime(1_600_000_000_000), "n": .int32(Int32(100 + i)), "createTime": .date(now.addingTimeInterval(-20 * 86_400))])
        }
        _ = try await events.insertMany(documents)
        let report = try await RetentionJob.pass(RetentionPolicy(collection: events, timeField: "eventTime", maxDays: 15, maxPerCluster: 10))
        #expect(report == RetentionReport(expired: 4, overCap: 20))
        let big = try await events.find(["clusterId": "big"], options: FindOptions(sort: ["n": 1]))
        #expect(big.compactMap { $0["n"]?.intValue } == Array(20..<30), "the newest ten are kept")
        #expect(try await events.count(["clusterId": "small"]) == 5, "a cluster under the cap keeps everything young")
        #expect(try await RetentionJob.pass(RetentionPolicy(collection: events, timeField: "eventTime", maxDays: 15, maxPerCluster: 10)) == RetentionReport())
        try await events.drop()
        await client.shutdown()
    }

    @Test func supervisedRetentionJobRunsOnItsInterval() async throws {
        let storage = try await StorageFixture.start(flags: ["event-max-cap": "5", "retention-interval": "1"])
        let batch = (0..<12).map { StorageFixture.event(uid: "u\($0)", rv: "1", time: 1_700_000_000 + $0) }
        #expect(try await storage.send(.POST, "/events/batch", body: batch).status == 200)
        try await eventually(within: .seconds(10)) { try await storage.send(.GET, "/events").total == 5 }
        let kept = try await storage.send(.GET, "/events").list.compactMap { $0["eventTime"] as? String }
        #expect(kept.first == "2023-11-14T22:13:31.000Z", "the newest survive")
        let metrics = try await storage.serve.get("/metrics").body
        #expect(metrics.contains("bcs_storage_retention_deleted_total{collection=\"events\",reason=\"cap\"}"))
        await storage.stop()
    }

    @Test func indexesAreCreatedAtStartUp() async throws {
        let storage = try await StorageFixture.start()
        let client = try MongoClient(uri: MongoURI(TestEnvironment.mongoURI()))
        let database = client.database(storage.database)
        try await eventually { try await database.collection("events").listIndexes().count >= MongoEventStore.indexes.count + 1 }
        let eventKeys = try await database.collection("events").listIndexes().compactMap { $0["key"]?.documentValue?.keys }
        for index in MongoEventStore.indexes {
            #expect(eventKeys.contains(index.keys.keys), "events index on \(index.keys.keys)")
        }
        let identity = try await database.collection("events").listIndexes().first { $0["key"]?.documentValue?.keys == ["clusterId", "_uid"] }
        #expect(identity?["unique"]?.boolValue == true)
        try await eventually { try await database.collection("dynamic_resources").listIndexes().count >= 3 }
        try await eventually { try await database.collection("alarms").listIndexes().count >= 4 }
        await client.shutdown()
        await storage.stop()
    }

    /// Every query shape the events API allows is served by an index: a query with `clusterId` by
    /// one that starts with it, any other by the `eventTime` index that also serves the sort.
    @Test func everyEventQueryShapeHasAnIndex() {
        let prefixes = MongoEventStore.indexes.map { $0.keys.keys }
        #expect(prefixes.contains(["clusterId", "eventTime"]))
        #expect(prefixes.contains(["clusterId", "extraInfo.namespace", "eventTime"]))
        #expect(prefixes.contains(["eventTime"]))
        #expect(prefixes.contains(["createTime"]), "retention by age")
        #expect(MongoAlarmStore.indexes.map { $0.keys.keys }.contains(["clusterId", "receivedTime"]))
        #expect(MongoDynamicResourceStore.indexes.first?.keys.keys == ["clusterId", "resourceType", "namespace", "resourceName"])
    }

    @Test func writesAnswer503WhileMongoIsDownAndResumeAfter() async throws {
        let server = try NXServer()
        try await server.start()
        let storage = try await StorageFixture.start(
            flags: ["readiness-interval": "0.2"],
            mongoURI: server.uri(options: "serverSelectionTimeoutMS=1000&connectTimeoutMS=500&socketTimeoutMS=2000")
        )
        #expect(try await storage.send(.PUT, "/events", body: StorageFixture.event(uid: "a", rv: "1")).status == 200)

        await server.kill()
        let down = try await storage.send(.PUT, "/events", body: StorageFixture.event(uid: "b", rv: "1"))
        #expect(down.status == 503, "\(down.body)")
        #expect(down.code == 1405088)
        #expect(try await storage.send(.POST, "/events/batch", body: [StorageFixture.event(uid: "c", rv: "1")]).status == 503)
        #expect(try await storage.send(.GET, "/events").status == 503)
        try await eventually { try await storage.serve.get("/readyz").status == 503 }
        #expect(try await storage.serve.get("/readyz").body.contains("mongodb"))

        try await server.start()
        try await eventually(within: .seconds(20)) {
            try await storage.send(.PUT, "/events", body: StorageFixture.event(uid: "b", rv: "1")).status == 200
        }
        try await eventually { try await storage.serve.get("/readyz").status == 200 }
        await storage.stop()
        await server.kill()
    }
}
