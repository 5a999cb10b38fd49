import BCSMongo
import Foundation

/// `UserStore` in the `users` collection: `_id` is the name (unique across types, as in BCS),
/// `tokenKey` (the token's HMAC) has a unique index.
public struct MongoUserStore: UserStore {
    let collection: MongoCollection
    let sequences: MongoSequences

    public init(database: MongoDatabase) {
        collection = database.collection(UserManagerCollections.users)
        sequences = MongoSequences(database: database)
    }

    public func nextUserID() async throws -> Int { try await sequences.next("users") }

    public func user(name: String) async throws -> UserRecord? {
        try await collection.findOne(["_id": .string(name)]).flatMap(Self.decode)
    }

    public func user(tokenKey: String) async throws -> UserRecord? {
        try await collection.findOne(["tokenKey": .string(tokenKey)]).flatMap(Self.decode)
    }

    public func insert(_ user: UserRecord) async throws {
        try await mappingDuplicate { try await collection.insertOne(Self.encode(user)) }
    }

    public func replaceToken(name: String, tokenKey: String, sealedToken: String, expiresAt: Date, updatedAt: Date) async throws {
        _ = try await collection.updateOne(filter: ["_id": .string(name)], update: [
            "$set": ["tokenKey": .string(tokenKey), "sealedToken": .string(sealedToken), "expiresAt": .millis(expiresAt), "updatedAt": .millis(updatedAt)],
        ])
    }

    public func updateExpiry(name: String, expiresAt: Date, updatedAt: Date) async throws {
        _ = try await collection.updateOne(filter: ["_id": .string(name)], update: [
            "$set": ["expiresAt": .millis(expiresAt), "updatedAt": .millis(updatedAt)],
        ])
    }

    public func upsert(_ user: UserRecord) async throws {
        var fields = Self.encode(user)
        fields["_id"] = nil
        let createdAt = fields["createdAt"] ?? .millis(user.createdAt)
        let id = fields["id"] ?? .int64(Int64(user.id))
        fields["createdAt"] = nil
        fields["id"] = nil
        _ = try await mappingDuplicate {
            try await collection.updateOne(filter: ["_id": .string(user.name)], update: [
                "$set": .document(fields), "$setOnInsert": ["createdAt": createdAt, "id": id],
            ], upsert: true)
        }
    }

    static func encode(_ user: UserRecord) -> BSONDocument {
        [
            "_id": .string(user.name), "id": .int64(Int64(user.id)), "userType": .int32(Int32(user.type.rawValue)),
            "tokenKey": .string(user.tokenKey), "sealedToken": .string(user.sealedToken),
            "createdAt": .millis(user.createdAt), "updatedAt": .millis(user.updatedAt), "expiresAt": .millis(user.expiresAt),
        ]
    }

    static func decode(_ doc: BSONDocument) -> UserRecord? {
        guard let name = doc["_id"]?.stringValue, let type = UserType(rawValue: doc.int("userType")) else { return nil }
        return UserRecord(
            id: doc.int("id"), name: name, type: type, tokenKey: doc.string("tokenKey"), sealedToken: doc.string("sealedToken"),
            createdAt: doc.time("createdAt"), updatedAt: doc.time("updatedAt"), expiresAt: doc.time("expiresAt")
        )
    }
}
