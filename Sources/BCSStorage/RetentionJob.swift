import BCSCore
import BCSMongo
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// How long, and how many per cluster, documents of one collection are kept.
struct RetentionPolicy: Sendable {
    let collection: MongoCollection
    /// The time field that orders documents (`eventTime`, `receivedTime`).
    let timeField: String
    let maxDays: Int
    let maxPerCluster: Int
}

/// What one retention pass removed.
struct RetentionReport: Sendable, Equatable {
    var expired = 0
    var overCap = 0
}

/// Deletes old documents, and the oldest beyond a per-cluster cap, on an interval.
///
/// Runs as a supervised background service. By age: documents whose `createTime` is older than
/// `maxDays` go (like bcs-storage, the application deletes; no TTL index, so the setting can change
/// without rebuilding an index). By cap: for each cluster over `maxPerCluster`, documents older than
/// the cap-th newest are deleted (documents sharing that exact second are kept, so a cluster may
/// keep a few more than the cap). A database outage skips a pass rather than failing the service.
///
/// With several storage replicas, one pass runs per period across all of them: a replica runs its
/// pass only if it holds the `storage-retention` lease (`MongoLease`), and the others skip. Each pass
/// is recorded in `bcs_job_runs` (which replica, when), for operators and tests.
struct RetentionJob: Service {
    let policies: [RetentionPolicy]
    let interval: Duration
    let lease: MongoLease?
    let runs: MongoCollection?
    let logger: Logger

    /// Where passes are recorded.
    static let runsCollection = "bcs_job_runs"

    init(policies: [RetentionPolicy], interval: Duration, lease: MongoLease? = nil, runs: MongoCollection? = nil, logger: Logger) {
        self.policies = policies
        self.interval = interval
        self.lease = lease
        self.runs = runs
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            if await takeTurn() { await runPass() }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Whether this replica runs this period's pass.
    private func takeTurn() async -> Bool {
        guard let lease else { return true }
        do {
            // Longer than one period: the holder renews it at its next pass before anyone else can
            // take it, so one replica runs every pass while it lives; if it dies, another takes
            // over within half a period of the pass it missed.
            return try await lease.acquire(for: interval * 1.5)
        } catch {
            logger.warning("retention: cannot take the lease; skipping this period", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func runPass() async {
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try? await runs?.insertOne([
            "job": "storage-retention", "holder": .string(lease?.holder ?? ProcessIdentity.current), "at": .int64(nowMillis),
        ])
        // The record of runs keeps a week.
        _ = try? await runs?.deleteMany(["job": "storage-retention", "at": ["$lt": .int64(nowMillis - 7 * 86_400_000)]])
        for policy in policies {
            do {
                let report = try await Self.pass(policy)
                if report != RetentionReport() {
                    logger.info("retention pass", metadata: [
                        "collection": "\(policy.collection.name)", "expired": "\(report.expired)", "over_cap": "\(report.overCap)",
                    ])
                }
            } catch let error as MongoError where error.isTransient {
                logger.warning("retention pass skipped: database unavailable", metadata: ["collection": "\(policy.collection.name)", "error": "\(error)"])
            } catch {
                logger.error("retention pass failed", metadata: ["collection": "\(policy.collection.name)", "error": "\(error)"])
            }
        }
    }

    /// One pass over one collection.
    static func pass(_ policy: RetentionPolicy, now: Date = Date()) async throws -> RetentionReport {
        var report = RetentionReport()
        let collection = policy.collection
        let cutoff = now.addingTimeInterval(-Double(policy.maxDays) * 86_400)
        report.expired = try await collection.deleteMany(["createTime": ["$lt": .date(cutoff)]]).deletedCount
        Counter(label: "bcs_storage_retention_deleted_total", dimensions: [("collection", collection.name), ("reason", "age")]).increment(by: Int64(report.expired))

        let crowded = try await collection.aggregate([
            ["$group": ["_id": "$clusterId", "n": ["$sum": 1]]],
            ["$match": ["n": ["$gt": .int64(Int64(policy.maxPerCluster))]]],
        ])
        for group in crowded {
            guard case .string(let clusterId)? = group["_id"] else { continue }
            // The cap-th newest document: everything strictly older than it goes.
            let boundary = try await collection.find(
                ["clusterId": .string(clusterId)],
                options: FindOptions(sort: [policy.timeField: -1], skip: policy.maxPerCluster - 1, limit: 1, projection: [policy.timeField: 1])
            )
            guard let time = boundary.first?[policy.timeField] else { continue }
            report.overCap += try await collection.deleteMany(["clusterId": .string(clusterId), policy.timeField: ["$lt": time]]).deletedCount
        }
        Counter(label: "bcs_storage_retention_deleted_total", dimensions: [("collection", collection.name), ("reason", "cap")]).increment(by: Int64(report.overCap))
        return report
    }
}

/// Creates the storage collections' indexes at start-up, retrying until MongoDB answers.
struct StorageIndexBootstrap: Service {
    let collections: [(MongoCollection, [IndexModel])]
    let logger: Logger

    func run() async throws {
        var attempt = 0
        let backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        while !Task.isShuttingDownGracefully {
            do {
                for (collection, indexes) in collections { try await collection.createIndexes(indexes) }
                logger.info("storage indexes ready", metadata: ["collections": "\(collections.map(\.0.name).joined(separator: ","))"])
                try? await gracefulShutdown()
                return
            } catch let error as MongoError where error.isTransient {
                attempt += 1
                logger.warning("creating storage indexes failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                let delay = backoff.delay(attempt: attempt)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }
}
