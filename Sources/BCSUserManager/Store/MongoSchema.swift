import BCSMongo
import Foundation

/// The user-manager's collections and indexes in MongoDB.
///
/// Keys are strings (`_id` is the user name, the cluster ID, …) and times are int64 milliseconds:
/// both round-trip through every MongoDB-compatible server (nx-27017 turns datetimes and booleans
/// written by `$set` into strings and integers; see Docs/testing.md).
public enum UserManagerCollections {
    public static let users = "users"
    public static let clusters = "clusters"
    public static let registerTokens = "register_tokens"
    public static let clusterCredentials = "cluster_credentials"
    public static let roles = "roles"
    public static let permissions = "permissions"
    public static let counters = "counters"

    /// Creates every index; creating an existing one again is a no-op, so this runs at each start.
    public static func createIndexes(in database: MongoDatabase) async throws {
        try await database.collection(users).createIndexes([IndexModel(keys: ["tokenKey": 1], name: "tokenKey_unique", unique: true)])
        try await database.collection(registerTokens).createIndexes([IndexModel(keys: ["tokenKey": 1], name: "tokenKey_unique", unique: true)])
        try await database.collection(clusterCredentials).createIndexes([
            IndexModel(keys: ["updatedAt": 1], name: "updatedAt"),
            IndexModel(keys: ["status": 1], name: "status"),
        ])
        try await database.collection(permissions).createIndexes([
            IndexModel(keys: ["userName": 1, "resourceType": 1, "resource": 1, "role": 1], name: "grant_unique", unique: true),
            IndexModel(keys: ["resourceType": 1, "resource": 1], name: "resource"),
        ])
    }
}

/// Numeric IDs (BCS's auto-increment `id` columns) from a `counters` collection.
struct MongoSequences: Sendable {
    let database: MongoDatabase

    /// The next value of `name`, atomically (`findAndModify` with `$inc`, upsert).
    func next(_ name: String) async throws -> Int {
        let reply = try await database.runCommand([
            "findAndModify": .string(UserManagerCollections.counters),
            "query": ["_id": .string(name)],
            "update": ["$inc": ["seq": .int64(1)]],
            "upsert": true,
            "new": true,
        ])
        guard let value = reply["value"]?.documentValue?["seq"]?.intValue else {
            throw MongoError(kind: .internal, message: "findAndModify on counters returned no value")
        }
        return value
    }
}

extension BSONDocument {
    func string(_ key: String) -> String { self[key]?.stringValue ?? "" }
    func int(_ key: String) -> Int { self[key]?.intValue ?? 0 }
    func time(_ key: String) -> Date { BCSTime.date(millis: Int64(self[key]?.intValue ?? 0)) }
}

extension BSON {
    static func millis(_ date: Date) -> BSON { .int64(BCSTime.millis(date)) }
}

/// Turns a duplicate-key failure into `StoreError.duplicate`.
func mappingDuplicate<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as MongoError where error.kind == .duplicateKey {
        throw StoreError.duplicate
    }
}
