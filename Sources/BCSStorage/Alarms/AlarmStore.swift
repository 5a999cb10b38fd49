import BCSMongo
import Foundation

/// Where alarms live.
protocol AlarmStore: Sendable {
    func insert(_ alarm: BSONDocument) async throws
    func query(filter: BSONDocument, projection: BSONDocument?, offset: Int, limit: Int) async throws -> (documents: [BSONDocument], total: Int)
}

/// Alarms in the `alarms` collection.
struct MongoAlarmStore: AlarmStore {
    let collection: MongoCollection

    static let collectionName = "alarms"

    static let indexes: [IndexModel] = [
        IndexModel(keys: ["clusterId": 1, "receivedTime": -1], name: "alarms_cluster_time"),
        IndexModel(keys: ["receivedTime": -1], name: "alarms_time"),
        IndexModel(keys: ["createTime": 1], name: "alarms_create_time"),
    ]

    func insert(_ alarm: BSONDocument) async throws {
        try await collection.insertOne(alarm)
    }

    func query(filter: BSONDocument, projection: BSONDocument?, offset: Int, limit: Int) async throws -> (documents: [BSONDocument], total: Int) {
        async let total = collection.countByCommand(filter)
        let documents = try await collection.find(filter, options: FindOptions(sort: ["receivedTime": -1, "_id": -1], skip: offset, limit: limit, projection: projection))
        return (documents, try await total)
    }
}
