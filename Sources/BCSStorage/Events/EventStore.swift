import BCSMongo
import Foundation

/// What happened to a set of submitted events.
struct EventWriteSummary: Sendable, Codable, Equatable {
    /// New events stored.
    var inserted = 0
    /// Stored events replaced by a newer version.
    var updated = 0
    /// Events not applied because the same or a newer version is already stored.
    var ignored = 0
}

/// Where events live. A protocol so handlers do not depend on MongoDB (an embedded store can
/// stand in later).
protocol EventStore: Sendable {
    func write(_ events: [StorageEvent]) async throws -> EventWriteSummary
    func query(filter: BSONDocument, projection: BSONDocument?, offset: Int, limit: Int) async throws -> (documents: [BSONDocument], total: Int)
}

/// Events in the `events` collection.
struct MongoEventStore: EventStore {
    let collection: MongoCollection

    static let collectionName = "events"

    /// The indexes every events query and write relies on (created at start-up, idempotently).
    static let indexes: [IndexModel] = [
        IndexModel(keys: ["clusterId": 1, "_uid": 1], name: "events_identity", unique: true),
        IndexModel(keys: ["clusterId": 1, "eventTime": -1], name: "events_cluster_time"),
        IndexModel(keys: ["clusterId": 1, "extraInfo.namespace": 1, "eventTime": -1], name: "events_cluster_namespace_time"),
        IndexModel(keys: ["eventTime": -1], name: "events_time"),
        IndexModel(keys: ["createTime": 1], name: "events_create_time"),
    ]

    func write(_ events: [StorageEvent]) async throws -> EventWriteSummary {
        // Within one batch keep only the newest version of each identity (the last one on ties):
        // the server may apply an unordered batch in any order.
        var newest: [String: Int] = [:]
        var models: [WriteModel] = []
        var skipped = 0
        for (index, event) in events.enumerated() {
            guard event.hasIdentity else { continue }
            let key = event.clusterId + "\u{0}" + event.uid
            if let previous = newest[key] {
                skipped += 1
                if (event.resourceVersion ?? Int64.min) >= (events[previous].resourceVersion ?? Int64.min) { newest[key] = index }
            } else {
                newest[key] = index
            }
        }
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        for (index, event) in events.enumerated() where !event.hasIdentity || newest[event.clusterId + "\u{0}" + event.uid] == index {
            models.append(event.writeModel(now: now))
        }
        var summary = EventWriteSummary(ignored: skipped)
        do {
            let result = try await collection.bulkWrite(models, ordered: false)
            summary.inserted += result.upsertedCount + result.insertedCount
            summary.updated += result.modifiedCount
            summary.ignored += result.matchedCount - result.modifiedCount
        } catch let error as MongoError where !error.writeErrors.isEmpty && error.writeErrors.allSatisfy(\.isDuplicateKey) {
            let partial = error.partialResult
            summary.inserted += (partial?.upsertedCount ?? 0) + (partial?.insertedCount ?? 0)
            summary.updated += partial?.modifiedCount ?? 0
            summary.ignored += error.writeErrors.count + (partial.map { $0.matchedCount - $0.modifiedCount } ?? 0)
        }
        return summary
    }

    func query(filter: BSONDocument, projection: BSONDocument?, offset: Int, limit: Int) async throws -> (documents: [BSONDocument], total: Int) {
        async let total = collection.count(filter)
        let documents = try await collection.find(filter, options: FindOptions(sort: ["eventTime": -1, "_id": -1], skip: offset, limit: limit, projection: projection))
        return (documents, try await total)
    }
}
