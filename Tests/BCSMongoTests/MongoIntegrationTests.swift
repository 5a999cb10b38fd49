import BCSTestSupport
import Foundation
import Testing

@testable import BCSMongo

/// The libmongoc layer against the real MongoDB-compatible server (`BCS_TEST_MONGODB_URI`).
@Suite("MongoDB layer against a live server")
struct MongoIntegrationTests {
    let client: MongoClient
    let db: MongoDatabase

    init() throws {
        client = try MongoClient(uri: MongoURI(TestEnvironment.mongoURI()), threads: 8)
        db = client.database("bcs_test")
    }

    func freshCollection(_ name: String) async throws -> MongoCollection {
        let collection = db.collection(TestEnvironment.uniqueName(name))
        try await collection.drop()
        return collection
    }

    @Test func pingAnswers() async throws {
        try await client.ping()
        await client.shutdown()
    }

    @Test func everyTypeRoundTripsThroughTheServer() async throws {
        let collection = try await freshCollection("types")
        let value = BSONCodecTests.sample()
        _ = try await collection.insertMany(encoding: [value])
        // Matched on an int64 rather than the ObjectId: nx-27017 0.8.1 cannot match ObjectId fields
        // other than _id (Docs/testing.md).
        let byId: BSONDocument = ["big": .int64(1 << 40 + 7)]
        let found = try await collection.find(byId, as: EveryType.self)
        #expect(found == [value])
        // Raw view: widths and types as stored by the server.
        let raw = try #require(try await collection.findOne(byId))
        #expect(raw["small"] == .int32(-123_456))
        #expect(raw["big"] == .int64(1 << 40 + 7))
        #expect(raw["when"] == .datetime(1_700_000_000_123))
        #expect(raw.value(atPath: "list")?.arrayValue?.count == 2)
        #expect(raw["_id"]?.objectIdValue != nil, "libmongoc adds an _id")
        try await collection.drop()
        await client.shutdown()
    }

    @Test func uniqueIndexViolationIsDuplicateKey() async throws {
        let collection = try await freshCollection("unique")
        try await collection.createIndexes([IndexModel(keys: ["clusterId": 1, "uid": 1], unique: true)])
        try await collection.insertOne(["clusterId": "c1", "uid": "u1"])
        let single = await #expect(throws: MongoError.self) { try await collection.insertOne(["clusterId": "c1", "uid": "u1"]) }
        #expect(single?.kind == .duplicateKey)
        // Unordered batch: the duplicate is reported, the others are still written.
        let batch = await #expect(throws: MongoError.self) {
            try await collection.insertMany([["clusterId": "c1", "uid": "u2"], ["clusterId": "c1", "uid": "u1"], ["clusterId": "c1", "uid": "u3"]], ordered: false)
        }
        #expect(batch?.kind == .duplicateKey)
        #expect(try await collection.count(["clusterId": "c1"]) == 3)
        let bulk = await #expect(throws: MongoError.self) { try await collection.bulkWrite([.insertOne(["clusterId": "c1", "uid": "u3"])]) }
        #expect(bulk?.kind == .duplicateKey)
        try await collection.drop()
        await client.shutdown()
    }

    @Test func findFiltersSortsPagesAndProjects() async throws {
        let collection = try await freshCollection("find")
        let docs: [BSONDocument] = (0..<20).map { i in
            ["n": .int32(Int32(i)), "kind": i % 2 == 0 ? "even" : "odd", "payload": ["x": .int32(Int32(i))]]
        }
        #expect(try await collection.insertMany(docs).insertedCount == 20)
        let page = try await collection.find(
            ["kind": "even", "n": ["$gte": 4]],
            options: FindOptions(sort: ["n": -1], skip: 1, limit: 3, projection: ["n": 1, "_id": 0])
        )
        #expect(page == [["n": .int32(16)], ["n": .int32(14)], ["n": .int32(12)]])
        #expect(try await collection.count(["kind": "odd"]) == 10)
        #expect(try await collection.find(["kind": ["$in": ["odd", "none"]], "n": ["$lt": 5]]).count == 2)
        #expect(try await collection.findOne(["n": 999]) == nil)
        try await collection.drop()
        await client.shutdown()
    }

    @Test func updatesUpsertsReplacesAndDeletes() async throws {
        let collection = try await freshCollection("update")
        let created = try await collection.updateOne(filter: ["key": "a"], update: ["$set": ["v": 1]], upsert: true)
        #expect(created.upsertedId != nil && created.matchedCount == 0)
        let updated = try await collection.updateOne(filter: ["key": "a"], update: ["$set": ["v": 2]], upsert: true)
        #expect(updated.matchedCount == 1 && updated.modifiedCount == 1 && updated.upsertedId == nil)
        _ = try await collection.replaceOne(filter: ["key": "a"], replacement: ["key": "a", "w": "replaced"])
        let doc = try #require(try await collection.findOne(["key": "a"]))
        #expect(doc["w"] == "replaced" && doc["v"] == nil)
        try await collection.insertOne(["key": "b"])
        try await collection.insertOne(["key": "b"])
        #expect(try await collection.updateMany(filter: ["key": "b"], update: ["$set": ["seen": true]]).modifiedCount == 2)
        #expect(try await collection.deleteOne(["key": "b"]).deletedCount == 1)
        #expect(try await collection.deleteMany([:]).deletedCount == 2)
        try await collection.drop()
        await client.shutdown()
    }

    @Test func bulkWriteMixesOperations() async throws {
        let collection = try await freshCollection("bulk")
        let result = try await collection.bulkWrite([
            .insertOne(["k": 1]), .insertOne(["k": 2]), .insertOne(["k": 3]),
            .updateOne(filter: ["k": 1], update: ["$set": ["t": "one"]]),
            .updateMany(filter: ["k": ["$gte": 2]], update: ["$set": ["t": "many"]]),
            .replaceOne(filter: ["k": 4], replacement: ["k": 4, "t": "upserted"], upsert: true),
            .deleteOne(["k": 3]),
        ], ordered: true)
        #expect(result.insertedCount == 3)
        #expect(result.matchedCount == 3)
        #expect(result.upsertedCount == 1)
        #expect(result.deletedCount == 1)
        let all = try await collection.find([:], options: FindOptions(sort: ["k": 1], projection: ["_id": 0]))
        #expect(all.map { $0["t"] } == ["one", "many", "upserted"])
        try await collection.drop()
        await client.shutdown()
    }

    @Test func indexesIncludingTTLAreCreatedIdempotently() async throws {
        let collection = try await freshCollection("indexes")
        let models = [
            IndexModel(keys: ["clusterId": 1, "uid": 1], unique: true),
            IndexModel(keys: ["eventTime": -1], name: "eventTime_ttl", expireAfterSeconds: 15 * 86_400),
        ]
        try await collection.createIndexes(models)
        try await collection.createIndexes(models)
        let indexes = try await collection.listIndexes()
        // Found by key rather than name: nx-27017 renames indexes (Docs/testing.md).
        func index(on keys: [String]) -> BSONDocument? {
            indexes.first { $0["key"]?.documentValue?.keys == keys }
        }
        let ttl = try #require(index(on: ["eventTime"]))
        #expect(ttl["expireAfterSeconds"]?.intValue == 15 * 86_400)
        let unique = try #require(index(on: ["clusterId", "uid"]))
        #expect(unique["unique"]?.boolValue == true)
        #expect(indexes.count == 3, "creating the same indexes twice adds none: \(indexes)")
        try await collection.drop()
        await client.shutdown()
    }

    @Test func aggregateGroups() async throws {
        let collection = try await freshCollection("aggregate")
        _ = try await collection.insertMany((0..<9).map { ["cluster": .string("c\($0 % 3)"), "n": .int32(Int32($0))] })
        let groups = try await collection.aggregate([
            ["$group": ["_id": "$cluster", "total": ["$sum": "$n"], "count": ["$sum": 1]]],
            ["$sort": ["_id": 1]],
        ])
        #expect(groups.map { $0["_id"] } == ["c0", "c1", "c2"])
        #expect(groups.map { $0["total"]?.intValue } == [9, 12, 15])
        #expect(groups.allSatisfy { $0["count"]?.intValue == 3 })
        try await collection.drop()
        await client.shutdown()
    }

    @Test func hundredConcurrentTasksLoseNothing() async throws {
        let collection = try await freshCollection("concurrent")
        let perTask = 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<100 {
                group.addTask {
                    let docs: [BSONDocument] = (0..<perTask).map { i in
                        ["task": .int32(Int32(task)), "i": .int32(Int32(i)), "body": .string(String(repeating: "\(task)-\(i);", count: 8))]
                    }
                    _ = try await collection.insertMany(docs.prefix(perTask / 2).map { $0 })
                    for doc in docs.suffix(perTask / 2) { try await collection.insertOne(doc) }
                    let mine = try await collection.find(["task": .int32(Int32(task))], options: FindOptions(sort: ["i": 1], projection: ["_id": 0]))
                    #expect(mine == docs, "task \(task) read back exactly what it wrote")
                }
            }
            try await group.waitForAll()
        }
        #expect(try await collection.count() == 100 * perTask)
        try await collection.drop()
        await client.shutdown()
    }

    @Test func operationsAfterShutdownFailCleanly() async throws {
        await client.shutdown()
        let error = await #expect(throws: MongoError.self) { try await client.ping() }
        #expect(error?.kind == .closed)
    }
}
