import BCSMongo
import Foundation

/// `PermissionStore` in `roles` (`_id` = role name) and `permissions` (one document per grant,
/// unique on user, resource type, resource and role, so granting twice is harmless).
///
/// Every verification reads MongoDB: a revoked grant stops working at once, in every process
/// (BCS cached grants for 60 s).
public struct MongoPermissionStore: PermissionStore {
    let roles: MongoCollection
    let permissions: MongoCollection

    public init(database: MongoDatabase) {
        roles = database.collection(UserManagerCollections.roles)
        permissions = database.collection(UserManagerCollections.permissions)
    }

    public func role(name: String) async throws -> RoleRecord? {
        guard let doc = try await roles.findOne(["_id": .string(name)]) else { return nil }
        return RoleRecord(name: name, actions: doc.string("actions"))
    }

    public func seed(_ seeded: [RoleRecord]) async throws {
        for role in seeded {
            _ = try await roles.updateOne(filter: ["_id": .string(role.name)], update: [
                "$setOnInsert": ["actions": .string(role.actions), "createdAt": .millis(Date())],
            ], upsert: true)
        }
    }

    public func grants(userName: String) async throws -> [Grant] {
        try await permissions.find(["userName": .string(userName)]).map { doc in
            Grant(userName: userName, resourceType: doc.string("resourceType"), resource: doc.string("resource"), role: doc.string("role"))
        }
    }

    public func insert(_ grants: [Grant]) async throws {
        let now = BSON.millis(Date())
        for grant in grants {
            do {
                try await permissions.insertOne(Self.filter(grant).merging(["createdAt": now]))
            } catch let error as MongoError where error.kind == .duplicateKey {
                continue  // granted already: BCS skips existing grants too
            }
        }
    }

    public func delete(_ grants: [Grant]) async throws {
        for grant in grants { _ = try await permissions.deleteMany(Self.filter(grant)) }
    }

    public func deleteGrants(resourceType: String, resource: String) async throws {
        _ = try await permissions.deleteMany(["resourceType": .string(resourceType), "resource": .string(resource)])
    }

    static func filter(_ grant: Grant) -> BSONDocument {
        ["userName": .string(grant.userName), "resourceType": .string(grant.resourceType), "resource": .string(grant.resource), "role": .string(grant.role)]
    }
}

extension BSONDocument {
    func merging(_ other: BSONDocument) -> BSONDocument {
        var copy = self
        for (key, value) in other { copy[key] = value }
        return copy
    }
}
