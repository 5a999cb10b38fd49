import NIOSSL
import Synchronization

/// Where a direct-mode request for a cluster goes, readable from an event loop without asking the
/// cluster's actor: the preferred apiserver address, the token to send and a TLS context trusting
/// the reported CA.
struct DirectRoute: Sendable {
    let address: URLParts
    /// `Bearer <token>` for the cluster's token, made once per route rather than per request.
    let authorization: String
    let tls: NIOSSLContext?
    /// Changes whenever address, token or CA change, so pooled connections made for an older route
    /// are never reused for a newer one.
    let generation: Int
    /// Counts the requests the fast path carried for the cluster (shown by the status route).
    let served: RequestCounter
}

/// A count readable from any thread.
final class RequestCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Every cluster's current `DirectRoute`, published by its `ClusterActor` when its credentials or
/// preferred address change.
///
/// A cluster without a route here (no credentials, an address with a path, an unusable CA) is still
/// served: by the actor, on the slow path.
final class DirectRoutes: Sendable {
    private let table = Mutex<[String: DirectRoute]>([:])
    private let generations = Atomic<Int>(0)

    func route(for clusterID: String) -> DirectRoute? {
        table.withLock { $0[clusterID] }
    }

    /// Publishes the route for an address; none (and the slow path) when it cannot be used as one.
    func publish(clusterID: String, address: String?, token: String, tls: NIOSSLContext?, served: RequestCounter) {
        guard let address, let parts = URLParts(address), parts.hasNoPath, parts.secure == (tls != nil) else {
            withdraw(clusterID)
            return
        }
        let route = DirectRoute(address: parts, authorization: "Bearer \(token)", tls: tls, generation: generations.add(1, ordering: .relaxed).newValue,
                                served: served)
        table.withLock { $0[clusterID] = route }
    }

    func withdraw(_ clusterID: String) {
        _ = table.withLock { $0.removeValue(forKey: clusterID) }
    }
}
