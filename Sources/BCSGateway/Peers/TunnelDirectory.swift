import BCSCore
import BCSMongo
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Which gateway replica holds each cluster's agent tunnel, shared through MongoDB.
///
/// A replica with a live session for a cluster publishes `{cluster_id, replica, peer_url, expires}`
/// in `bcs_tunnel_owners` and renews it every `renewEvery`; a replica that dies stops renewing and its
/// records lapse after `leaseFor`, by which time its agents are reconnecting elsewhere. Another
/// replica asked for that cluster looks the owner up (cached for `lookupCacheFor`, so a busy cluster
/// costs one query a second) and forwards the request to it (`KubeProxy+Peer`).
///
/// Publishing is a reconcile of the whole local state rather than one write per change: changes
/// only mark the directory dirty, and the service loop writes within `reconcileDelay`, so a burst of
/// a thousand agents reconnecting becomes a few bulk writes, and out-of-order session events cannot
/// leave a wrong record behind.
final class TunnelDirectory: Sendable {
    let collection: MongoCollection
    let replica: String
    /// Where peers reach this replica (`--peer-url`); without it this replica forwards but does not publish.
    let peerURL: String?
    let localClusters: @Sendable () -> [String]
    let logger: Logger

    static let collectionName = "bcs_tunnel_owners"
    /// Every replica's heartbeat (`_id` = replica, `peer_url`, `expires`), so each knows its peers.
    static let replicasCollectionName = "bcs_gateway_replicas"
    let replicas: MongoCollection
    static let renewEvery: Duration = .seconds(5)
    static let leaseFor: Duration = .seconds(15)
    static let lookupCacheFor: Duration = .seconds(1)
    static let reconcileDelay: Duration = .milliseconds(200)

    private struct Cached {
        let owner: Owner?
        let at: ContinuousClock.Instant
    }

    /// Another replica holding a cluster's tunnel.
    struct Owner: Sendable, Equatable {
        let replica: String
        let peerURL: String
    }

    /// Marked by the tunnel pool when a session comes or goes; read by the publisher.
    final class Changes: Sendable {
        fileprivate let dirty = Atomic<Bool>(true)
        func mark() { dirty.store(true, ordering: .relaxed) }
    }

    private let changes: Changes
    private let cache = Mutex<[String: Cached]>([:])
    private let peersSeen = Mutex<Set<String>>([])
    private let ownedGauge = Gauge(label: "bcs_gateway_owned_tunnel_clusters")
    private let peersGauge = Gauge(label: "bcs_gateway_peers")

    init(database: MongoDatabase, replica: String = ProcessIdentity.current, peerURL: String?, changes: Changes = Changes(), logger: Logger,
         localClusters: @escaping @Sendable () -> [String]) {
        self.changes = changes
        self.collection = database.collection(Self.collectionName)
        self.replicas = database.collection(Self.replicasCollectionName)
        self.replica = replica
        self.peerURL = peerURL
        self.logger = logger
        self.localClusters = localClusters
    }

    /// How many clusters this replica published at the last reconcile.
    var ownedCount: Int { owned.load(ordering: .relaxed) }
    private let owned = Atomic<Int>(0)

    /// The replica holding a live tunnel for `clusterID`, other than this one; nil when none does.
    /// Whether a fresh lookup found no other replica owning the cluster's tunnel; false when unknown.
    func knownUnowned(_ clusterID: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard let hit = cache.withLock({ $0[clusterID] }), now - hit.at < Self.lookupCacheFor else { return false }
        return hit.owner == nil
    }

    func owner(of clusterID: String, now: ContinuousClock.Instant = .now) async -> Owner? {
        if let hit = cache.withLock({ $0[clusterID] }), now - hit.at < Self.lookupCacheFor { return hit.owner }
        let owner: Owner?
        do {
            let documents = try await collection.find([
                "cluster_id": .string(clusterID), "replica": ["$ne": .string(replica)], "expires": ["$gt": .int64(Self.millis(Date()))],
            ])
            owner = documents
                .max { ($0["expires"]?.intValue ?? 0) < ($1["expires"]?.intValue ?? 0) }
                .flatMap { document in
                    guard let replica = document["replica"]?.stringValue, let url = document["peer_url"]?.stringValue else { return nil }
                    return Owner(replica: replica, peerURL: url)
                }
        } catch {
            logger.warning("tunnel directory: lookup failed", metadata: ["cluster": "\(clusterID)", "error": "\(error)"])
            return nil
        }
        cache.withLock { $0[clusterID] = Cached(owner: owner, at: now) }
        return owner
    }

    /// Forgets a looked-up owner (its forward failed), so the next request looks again.
    func forget(_ clusterID: String) {
        _ = cache.withLock { $0.removeValue(forKey: clusterID) }
    }

    /// Number of other replicas alive (a heartbeat within `leaseFor`) at the last reconcile.
    var peerCount: Int { peersSeen.withLock { $0.count } }

    /// Writes this replica's records to match its live sessions: renew or create what it holds, delete the rest.
    func reconcile(now: Date = Date()) async throws {
        let clusters = localClusters()
        ownedGauge.record(clusters.count)
        owned.store(clusters.count, ordering: .relaxed)
        let nowMillis = Self.millis(now)
        let expires = nowMillis + Int64(Self.leaseFor.components.seconds * 1000)
        if let peerURL {
            let ids = clusters.map { BSON.string($0) }
            _ = try await collection.deleteMany(["replica": .string(replica), "cluster_id": ["$nin": .array(ids)]])
            if !clusters.isEmpty {
                let renewed = try await collection.updateMany(
                    filter: ["replica": .string(replica), "cluster_id": ["$in": .array(ids)]],
                    update: ["$set": ["expires": .int64(expires), "peer_url": .string(peerURL)]]
                )
                if renewed.matchedCount < clusters.count {
                    let present = Set(try await collection.find(["replica": .string(replica)], options: FindOptions(projection: ["cluster_id": 1]))
                        .compactMap { $0["cluster_id"]?.stringValue })
                    for cluster in clusters where !present.contains(cluster) {
                        _ = try await collection.updateOne(
                            filter: ["_id": .string("\(cluster)|\(replica)")],
                            update: ["$set": ["cluster_id": .string(cluster), "replica": .string(replica), "peer_url": .string(peerURL), "expires": .int64(expires)]],
                            upsert: true
                        )
                    }
                }
            }
        }
        if let peerURL {
            _ = try await replicas.updateOne(filter: ["_id": .string(replica)],
                                             update: ["$set": ["peer_url": .string(peerURL), "expires": .int64(expires)]], upsert: true)
        }
        _ = try await replicas.deleteMany(["expires": ["$lt": .int64(nowMillis - 3_600_000)]])
        let live = try await replicas.find(["_id": ["$ne": .string(replica)], "expires": ["$gt": .int64(nowMillis)]])
        let peers = Set(live.compactMap { $0["_id"]?.stringValue })
        peersSeen.withLock { $0 = peers }
        peersGauge.record(peers.count)
    }

    /// Removes this replica's records (graceful shutdown: peers stop forwarding here at once).
    func withdrawAll() async {
        _ = try? await collection.deleteMany(["replica": .string(replica)])
        _ = try? await replicas.deleteOne(["_id": .string(replica)])
    }

    static func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }

    /// Keeps the records current: soon after a change, and every `renewEvery` regardless.
    struct Publisher: Service {
        let directory: TunnelDirectory
        /// Their HTTP clients are shut down when this service ends (after the server has stopped).
        var peers: PeerLinks?

        func run() async throws {
            try? await directory.collection.createIndexes([IndexModel(keys: ["cluster_id": 1, "expires": -1]), IndexModel(keys: ["replica": 1])])
            var last = ContinuousClock.now - TunnelDirectory.renewEvery
            while !Task.isShuttingDownGracefully {
                let now = ContinuousClock.now
                if directory.changes.dirty.exchange(false, ordering: .relaxed) || now - last >= TunnelDirectory.renewEvery {
                    do {
                        try await directory.reconcile()
                        last = now
                    } catch {
                        directory.changes.mark()
                        directory.logger.warning("tunnel directory: cannot publish this replica's tunnels", metadata: ["error": "\(error)"])
                    }
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: TunnelDirectory.reconcileDelay) }
            }
            await directory.withdrawAll()
            await peers?.shutdown()
        }
    }
}
