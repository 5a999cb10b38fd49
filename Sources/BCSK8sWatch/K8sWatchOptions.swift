import Foundation
import BCSCore
import BCSKube

/// Everything `bcs k8s-watch` is told: which cluster, where storage is, what to watch, how to ship.
public struct K8sWatchOptions: Sendable {
    public var clusterId: String
    /// The resources to capture (default: Event, Pod, Deployment, Service, Node, Namespace, ConfigMap).
    public var resources: [KubeResource] = K8sWatchOptions.defaultResources
    /// Namespaces to watch; empty means all.
    public var namespaces: [String] = []
    /// Most events held between the watches and storage (waiting or in flight).
    public var eventQueueCapacity = 10_000
    /// Most object changes held (one per object: newer versions replace waiting ones).
    public var resourceQueueCapacity = 10_000
    /// Events per `POST /events/batch` (storage accepts up to 1,000).
    public var batchSize = 500
    /// How long the first event of a batch may wait for more.
    public var flushInterval: Duration = .milliseconds(200)
    /// Event batches in flight at once.
    public var eventShippers = 4
    /// Object writes in flight at once.
    public var resourceShippers = 4
    /// How long a full queue may hold up a watch before the oldest waiting entry is dropped —
    /// the apiserver's event retention (`--event-ttl`, 1 h by default): past it, what waits
    /// longest would be gone from the cluster anyway.
    public var maxBlock: Duration = .seconds(3600)
    /// Retry pacing while storage is down.
    public var shipBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
    /// Retry pacing of failed list/watch calls.
    public var watchBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
    /// `timeoutSeconds` of each watch request.
    public var watchTimeout = 300
    /// Seconds between reconcile passes (first pass after `reconcileInitialDelay`).
    public var reconcileInterval: Duration = .seconds(300)
    public var reconcileInitialDelay: Duration = .seconds(30)

    public static let defaultResources: [KubeResource] = ["Event", "Pod", "Deployment", "Service", "Node", "Namespace", "ConfigMap"]
        .compactMap { KubeResource.known[$0] }

    public init(clusterId: String) {
        self.clusterId = clusterId
    }

    /// Parses `--resources` (comma-separated kinds or plurals: `Event,pods,deployments`).
    public static func parseResources(_ text: String) throws -> [KubeResource] {
        var result: [KubeResource] = []
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let resource = KubeResource.named(name) else {
                throw ConfigurationError("unknown resource \"\(name)\" in --resources (known: \(KubeResource.known.keys.sorted().joined(separator: ", ")))")
            }
            if !result.contains(resource) { result.append(resource) }
        }
        guard !result.isEmpty else { throw ConfigurationError("--resources names no resource") }
        return result
    }
}
