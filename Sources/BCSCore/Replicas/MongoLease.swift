import BCSMongo
import Foundation

/// A named lease in MongoDB that at most one replica holds at a time, for work that must run once.
///
/// A replica holds the lease until `expires` unless it renews it; when a holder dies its lease
/// simply lapses and the next replica to try takes it. Acquiring is one conditional upsert: the
/// filter matches the lease only if it is ours or expired, so when someone else holds it the upsert
/// tries to insert a second document with the same `_id` and the unique index on `_id` refuses.
public struct MongoLease: Sendable {
    public let collection: MongoCollection
    public let name: String
    public let holder: String

    /// The collection leases live in.
    public static let collectionName = "bcs_leases"

    public init(database: MongoDatabase, name: String, holder: String = ProcessIdentity.current) {
        self.collection = database.collection(Self.collectionName)
        self.name = name
        self.holder = holder
    }

    /// Takes or renews the lease for `duration`; false when another replica holds it.
    public func acquire(for duration: Duration, now: Date = Date()) async throws -> Bool {
        let nowMillis = Int64(now.timeIntervalSince1970 * 1000)
        let expires = nowMillis + Int64(duration.components.seconds * 1000) + duration.components.attoseconds / 1_000_000_000_000_000
        do {
            _ = try await collection.updateOne(
                filter: ["_id": .string(name), "$or": [["holder": .string(holder)], ["expires": ["$lt": .int64(nowMillis)]]]],
                update: ["$set": ["holder": .string(holder), "expires": .int64(expires), "renewed": .int64(nowMillis)]],
                upsert: true
            )
            return true
        } catch let error as MongoError where error.kind == .duplicateKey {
            return false
        }
    }

    /// Gives the lease up now (a graceful shutdown), if this replica holds it.
    public func release() async throws {
        _ = try await collection.deleteOne(["_id": .string(name), "holder": .string(holder)])
    }

    /// Who holds the lease now, if anyone does.
    public func currentHolder(now: Date = Date()) async throws -> String? {
        let nowMillis = Int64(now.timeIntervalSince1970 * 1000)
        guard let document = try await collection.findOne(["_id": .string(name)]) else { return nil }
        guard let expires = document["expires"]?.intValue, Int64(expires) >= nowMillis else { return nil }
        return document["holder"]?.stringValue
    }
}
