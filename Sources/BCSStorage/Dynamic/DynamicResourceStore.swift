import BCSMongo
import Foundation

/// The identity of one stored Kubernetes object: cluster, type, namespace ("" when cluster-scoped), name.
struct ResourceKey: Sendable, Equatable {
    let clusterId: String
    let resourceType: String
    let namespace: String
    let resourceName: String

    var filter: BSONDocument {
        ["clusterId": .string(clusterId), "resourceType": .string(resourceType), "namespace": .string(namespace), "resourceName": .string(resourceName)]
    }
}

/// Where dynamic resources live.
protocol DynamicResourceStore: Sendable {
    /// Stores `data` for `key`; returns true when it created the document.
    func put(_ key: ResourceKey, data: BSON) async throws -> Bool
    func get(_ key: ResourceKey) async throws -> BSONDocument?
    func delete(_ key: ResourceKey) async throws -> Bool
    func list(filter: BSONDocument, projection: BSONDocument?, offset: Int, limit: Int) async throws -> (documents: [BSONDocument], total: Int)
    func deleteMany(filter: BSONDocument) async throws -> Int
}

/// Dynamic resources of every cluster and type in one `dynamic_resources` collection.
struct MongoDynamicResourceStore: DynamicResourceStore {
    let collection: MongoCollection

    static let collectionName = "dynamic_resources"

    static let indexes: [IndexModel] = [
        IndexModel(keys: ["clusterId": 1, "resourceType": 1, "namespace": 1, "resourceName": 1], name: "dynamic_identity", unique: true),
        IndexModel(keys: ["clusterId": 1, "resourceType": 1, "updateTime": 1], name: "dynamic_cluster_type_update"),
    ]

    func put(_ key: ResourceKey, data: BSON) async throws -> Bool {
        // updateTime comes from the server clock ($currentDate), createTime only on insert.
        let result = try await collection.updateOne(
            filter: key.filter,
            update: ["$set": ["data": data], "$currentDate": ["updateTime": true], "$setOnInsert": ["createTime": .date(Date())]],
            upsert: true
        )
        return result.upsertedId != nil
    }

    func get(_ key: ResourceKey) async throws -> BSONDocument? {
        try await collection.findOne(key.filter)
    }

    func delete(_ key: ResourceKey) async throws -> Bool {
        try await collection.deleteOne(key.filter).deletedCount > 0
    }

    func list(filter: BSONDocument, projection: BSONDocument?, offset: Int, limit: Int) async throws -> (documents: [BSONDocument], total: Int) {
        async let total = collection.countByCommand(filter)
        let documents = try await collection.find(filter, options: FindOptions(sort: ["namespace": 1, "resourceName": 1], skip: offset, limit: limit, projection: projection))
        return (documents, try await total)
    }

    func deleteMany(filter: BSONDocument) async throws -> Int {
        try await collection.deleteMany(filter).deletedCount
    }
}
