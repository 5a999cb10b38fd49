import BCSCore
import BCSMongo
import Foundation
import Logging
import ServiceLifecycle

/// Probes every cluster's apiserver on an interval, at most 16 at a time — in one gateway replica.
///
/// With several replicas, the one holding the `gateway-health-probes` lease probes and writes each
/// result to `bcs_cluster_health`; the others read those results instead of probing the same
/// apiservers again, so every replica shows the same health and an apiserver sees one prober.
/// The lease runs for 1.5 periods and is renewed at each round, so one replica keeps it while it
/// lives; when it dies another takes over within half a period.
struct ClusterHealthProber: Service {
    let registry: ClusterRegistry
    let interval: Duration
    let shared: Shared?
    let logger: Logger

    /// Where probe results are shared between replicas, and the lease that picks the prober.
    struct Shared: Sendable {
        let lease: MongoLease
        let results: MongoCollection

        static let resultsCollection = "bcs_cluster_health"

        init(database: MongoDatabase) {
            lease = MongoLease(database: database, name: "gateway-health-probes")
            results = database.collection(Self.resultsCollection)
        }
    }

    init(registry: ClusterRegistry, interval: Duration, shared: Shared? = nil, logger: Logger = Logger(label: "bcs.gateway")) {
        self.registry = registry
        self.interval = interval
        self.shared = shared
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            if await isProber() {
                await probeAll()
            } else {
                await adoptShared()
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    private func isProber() async -> Bool {
        guard let shared else { return true }
        do {
            return try await shared.lease.acquire(for: interval * 1.5)
        } catch {
            // The database is unreachable: probing locally beats showing stale health.
            logger.warning("health probes: cannot take the lease; probing locally", metadata: ["error": "\(error)"])
            return true
        }
    }

    private func probeAll() async {
        let actors = await registry.all
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for actor in actors {
                if running == 16 { await group.next(); running -= 1 }
                group.addTask { await actor.probe() }
                running += 1
            }
        }
        guard let shared else { return }
        var writes: [WriteModel] = []
        for actor in actors {
            let status = await actor.status()
            guard let probedAt = status.last_probe_at else { continue }
            writes.append(.updateOne(filter: ["_id": .string(status.cluster_id)], update: ["$set": [
                "state": .string(status.state.rawValue), "reason": .string(status.reason), "preferred_address": .string(status.preferred_address),
                "probed_at": .string(probedAt), "prober": .string(shared.lease.holder),
            ]], upsert: true))
        }
        // One round trip for every cluster's result, not one per cluster.
        guard !writes.isEmpty else { return }
        do {
            _ = try await shared.results.bulkWrite(writes, ordered: false)
        } catch {
            logger.warning("health probes: cannot share the results", metadata: ["error": "\(error)"])
        }
    }

    private func adoptShared() async {
        guard let shared, let documents = try? await shared.results.find() else { return }
        for document in documents {
            guard let clusterID = document["_id"]?.stringValue, let actor = await registry.actor(for: clusterID),
                  let state = document["state"]?.stringValue.flatMap(ClusterHealth.init(rawValue:)),
                  let probedAt = document["probed_at"]?.stringValue.flatMap({ try? Date($0, strategy: .iso8601) }) else { continue }
            await actor.adopt(state: state, reason: document["reason"]?.stringValue ?? "", probedAt: probedAt,
                              preferredAddress: document["preferred_address"]?.stringValue ?? "")
        }
    }
}
