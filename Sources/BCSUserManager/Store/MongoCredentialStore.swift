import BCSMongo
import Foundation

/// `CredentialStore` in `cluster_credentials`, one document per cluster (`_id` = cluster ID).
///
/// The document carries the HMAC of the cluster's current register token (`registerTokenKey`), so
/// a report is one conditional update — `{_id, registerTokenKey, status < deleted}` — and a token
/// rotated or a cluster deleted a moment earlier can never slip a report through.
/// `status`: 0 armed (token issued, nothing reported yet), 1 reported, 2 deleted (a tombstone for
/// the change feed of other processes). `updatedAt` moves on every report and deletion only.
public struct MongoCredentialStore: CredentialStore {
    enum Status: Int32 {
        case armed = 0, reported = 1, deleted = 2
    }

    let collection: MongoCollection
    let sequences: MongoSequences

    public init(database: MongoDatabase) {
        collection = database.collection(UserManagerCollections.clusterCredentials)
        sequences = MongoSequences(database: database)
    }

    public func armRegisterToken(clusterID: String, tokenKey: String) async throws {
        let rearmed = try await collection.updateOne(
            filter: ["_id": .string(clusterID), "status": ["$lt": .int32(Status.deleted.rawValue)]],
            update: ["$set": ["registerTokenKey": .string(tokenKey)]]
        )
        if rearmed.matchedCount > 0 { return }
        // No live record: start a fresh one (over a tombstone of an earlier cluster of this ID).
        let id = try await sequences.next("cluster_credentials")
        _ = try await collection.updateOne(filter: ["_id": .string(clusterID)], update: [
            "$set": [
                "registerTokenKey": .string(tokenKey), "status": .int32(Status.armed.rawValue), "id": .int64(Int64(id)),
                "serverAddresses": "", "sealedCACert": "", "sealedUserToken": "", "clusterDomain": "",
                "createdAt": .millis(Date()), "reportedAt": .int64(0),
            ],
            "$setOnInsert": ["updatedAt": .int64(0)],
        ], upsert: true)
    }

    public func armIfAbsent(clusterID: String, tokenKey: String) async throws {
        guard try await collection.findOne(["_id": .string(clusterID)], options: FindOptions(projection: ["_id": 1])) == nil else { return }
        let id = try await sequences.next("cluster_credentials")
        do {
            try await collection.insertOne([
                "_id": .string(clusterID), "registerTokenKey": .string(tokenKey), "status": .int32(Status.armed.rawValue), "id": .int64(Int64(id)),
                "serverAddresses": "", "sealedCACert": "", "sealedUserToken": "", "clusterDomain": "",
                "createdAt": .millis(Date()), "reportedAt": .int64(0), "updatedAt": .int64(0),
            ])
        } catch let error as MongoError where error.kind == .duplicateKey {
            return  // armed concurrently
        }
    }

    public func report(clusterID: String, tokenKey: String, serverAddresses: String, sealedCACert: String, sealedUserToken: String, at: Date) async throws -> Bool {
        let result = try await collection.updateOne(
            filter: ["_id": .string(clusterID), "registerTokenKey": .string(tokenKey), "status": ["$lt": .int32(Status.deleted.rawValue)]],
            update: ["$set": [
                "serverAddresses": .string(serverAddresses), "sealedCACert": .string(sealedCACert), "sealedUserToken": .string(sealedUserToken),
                "clusterDomain": "", "status": .int32(Status.reported.rawValue), "updatedAt": .millis(at), "reportedAt": .millis(at),
            ]]
        )
        return result.matchedCount > 0
    }

    public func credentials(clusterID: String) async throws -> StoredCredentials? {
        try await collection.findOne(["_id": .string(clusterID), "status": .int32(Status.reported.rawValue)]).map(Self.decode)
    }

    public func allCredentials() async throws -> [StoredCredentials] {
        try await collection.find(["status": .int32(Status.reported.rawValue)]).map(Self.decode)
    }

    public func lastReports() async throws -> [String: Date] {
        let docs = try await collection.find(["status": .int32(Status.reported.rawValue)], options: FindOptions(projection: ["reportedAt": 1]))
        var result: [String: Date] = [:]
        for doc in docs { if let id = doc["_id"]?.stringValue { result[id] = doc.time("reportedAt") } }
        return result
    }

    public func markDeleted(clusterID: String, at: Date) async throws {
        _ = try await collection.updateOne(filter: ["_id": .string(clusterID)], update: [
            "$set": [
                "status": .int32(Status.deleted.rawValue), "registerTokenKey": "", "sealedCACert": "", "sealedUserToken": "",
                "serverAddresses": "", "updatedAt": .millis(at),
            ],
        ])
    }

    public func changes(sinceMillis millis: Int64, limit: Int) async throws -> [CredentialsChangeRecord] {
        let docs = try await collection.find(
            ["updatedAt": ["$gte": .int64(max(millis, 1))]],
            options: FindOptions(sort: ["updatedAt": 1], limit: limit)
        )
        return docs.compactMap { doc in
            guard let id = doc["_id"]?.stringValue else { return nil }
            let updatedAt = Int64(doc.int("updatedAt"))
            switch Status(rawValue: Int32(doc.int("status"))) {
            case .reported: return CredentialsChangeRecord(clusterID: id, updatedAtMillis: updatedAt, credentials: Self.decode(doc))
            case .deleted: return CredentialsChangeRecord(clusterID: id, updatedAtMillis: updatedAt, credentials: nil)
            default: return nil
            }
        }
    }

    static func decode(_ doc: BSONDocument) -> StoredCredentials {
        StoredCredentials(
            id: doc.int("id"), clusterID: doc.string("_id"), serverAddresses: doc.string("serverAddresses"),
            sealedCACert: doc.string("sealedCACert"), sealedUserToken: doc.string("sealedUserToken"),
            clusterDomain: doc.string("clusterDomain"), createdAt: doc.time("createdAt"), updatedAt: doc.time("updatedAt")
        )
    }
}
