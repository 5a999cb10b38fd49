import BCSMongo
import Foundation

/// `ClusterStore` in `clusters` and `register_tokens`, both keyed by the cluster ID.
public struct MongoClusterStore: ClusterStore {
    let clusters: MongoCollection
    let tokens: MongoCollection
    let sequences: MongoSequences

    public init(database: MongoDatabase) {
        clusters = database.collection(UserManagerCollections.clusters)
        tokens = database.collection(UserManagerCollections.registerTokens)
        sequences = MongoSequences(database: database)
    }

    public func nextID(_ sequence: String) async throws -> Int { try await sequences.next(sequence) }

    public func cluster(id: String) async throws -> ClusterRecord? {
        try await clusters.findOne(["_id": .string(id)]).flatMap(Self.decodeCluster)
    }

    public func clusters() async throws -> [ClusterRecord] {
        try await clusters.find([:], options: FindOptions(sort: ["_id": 1])).compactMap(Self.decodeCluster)
    }

    public func insert(_ cluster: ClusterRecord) async throws {
        try await mappingDuplicate {
            try await clusters.insertOne([
                "_id": .string(cluster.id), "clusterType": .int32(Int32(cluster.type.rawValue)),
                "tkeClusterId": .string(cluster.tkeClusterID), "tkeClusterRegion": .string(cluster.tkeClusterRegion),
                "creatorId": .int64(Int64(cluster.creatorID)), "createdAt": .millis(cluster.createdAt),
            ])
        }
    }

    public func deleteCluster(id: String) async throws -> Bool {
        try await clusters.deleteOne(["_id": .string(id)]).deletedCount > 0
    }

    public func registerToken(clusterID: String) async throws -> RegisterTokenRecord? {
        guard let doc = try await tokens.findOne(["_id": .string(clusterID)]) else { return nil }
        return RegisterTokenRecord(id: doc.int("id"), clusterID: clusterID, tokenKey: doc.string("tokenKey"),
                                   sealedToken: doc.string("sealedToken"), createdAt: doc.time("createdAt"))
    }

    public func insertRegisterToken(_ token: RegisterTokenRecord) async throws {
        try await mappingDuplicate {
            try await tokens.insertOne([
                "_id": .string(token.clusterID), "id": .int64(Int64(token.id)), "tokenKey": .string(token.tokenKey),
                "sealedToken": .string(token.sealedToken), "createdAt": .millis(token.createdAt),
            ])
        }
    }

    public func replaceRegisterToken(clusterID: String, tokenKey: String, sealedToken: String, createdAt: Date) async throws -> Bool {
        try await tokens.updateOne(filter: ["_id": .string(clusterID)], update: [
            "$set": ["tokenKey": .string(tokenKey), "sealedToken": .string(sealedToken), "createdAt": .millis(createdAt)],
        ]).matchedCount > 0
    }

    public func deleteRegisterToken(clusterID: String) async throws {
        _ = try await tokens.deleteOne(["_id": .string(clusterID)])
    }

    static func decodeCluster(_ doc: BSONDocument) -> ClusterRecord? {
        guard let id = doc["_id"]?.stringValue, let type = ClusterType(rawValue: doc.int("clusterType")) else { return nil }
        return ClusterRecord(id: id, type: type, tkeClusterID: doc.string("tkeClusterId"), tkeClusterRegion: doc.string("tkeClusterRegion"),
                             creatorID: doc.int("creatorId"), createdAt: doc.time("createdAt"))
    }
}
