import BCSKube
import Foundation
import Logging
import Metrics

/// Repairs drift between what the watches saw and what storage holds (not for Events).
///
/// Every `interval` (the first pass `initialDelay` after start, which also removes objects deleted
/// while the watcher was not running), for each captured resource: list storage, then compare with
/// the capture's index. Stored objects the index does not know are deleted; known objects storage
/// lacks or holds at another version are fetched from the apiserver and PUT (or deleted, if they
/// are gone). Objects with a change still queued are left alone: the queue will settle them.
/// Storage is listed before the index is read, so an object added in between is never mistaken
/// for a stale one.
struct Reconciler: Sendable {
    let captures: [ResourceCapture]
    let client: KubeWatchClient
    let storage: StorageClient
    let queue: ShippingQueue<ResourceChange>
    let clusterId: String
    let initialDelay: Duration
    let interval: Duration
    let metrics: WatchMetrics
    let logger: Logger

    func run() async {
        guard !captures.isEmpty else { return }
        do { try await Task.sleep(for: initialDelay) } catch { return }
        while !Task.isCancelled {
            for capture in captures {
                do {
                    let repaired = try await reconcile(capture)
                    if repaired > 0 { logger.info("reconcile repaired drift", metadata: ["resource": "\(capture.resource.kind)", "objects": "\(repaired)"]) }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("reconcile pass failed; next pass will retry", metadata: ["resource": "\(capture.resource.kind)", "error": "\(error)"])
                }
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// One pass for one capture; returns how many objects it repaired.
    func reconcile(_ capture: ResourceCapture) async throws -> Int {
        let resource = capture.resource
        var stored = try await storage.listResources(clusterId: clusterId, resourceType: resource.kind)
        if resource.namespaced, let namespace = capture.namespace { stored = stored.filter { $0.namespace == namespace } }
        let known = await capture.index.snapshot()
        var repaired = 0
        var storedKeys: Set<String> = []
        for item in stored {
            let key = ObjectIndex.key(namespace: item.namespace, name: item.name)
            storedKeys.insert(key)
            let change = ResourceChange(resource: resource, namespace: item.namespace, name: item.name, action: .delete)
            if await queue.contains(change.key) { continue }
            if let version = known[key] {
                if version == item.resourceVersion { continue }
                try await refetch(capture, namespace: item.namespace, name: item.name)
            } else {
                guard await queue.enqueue(key: change.key, item: change) else { return repaired }
            }
            repaired += 1
        }
        for key in known.keys where !storedKeys.contains(key) {
            let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let probe = ResourceChange(resource: resource, namespace: parts[0], name: parts.count > 1 ? parts[1] : "", action: .delete)
            if await queue.contains(probe.key) { continue }
            try await refetch(capture, namespace: probe.namespace, name: probe.name)
            repaired += 1
        }
        metrics.reconcileRepairs.increment(by: Int64(repaired))
        return repaired
    }

    /// Reads the object from the apiserver now and queues its current state.
    private func refetch(_ capture: ResourceCapture, namespace: String, name: String) async throws {
        let key = ObjectIndex.key(namespace: namespace, name: name)
        if let object = try await client.get(capture.resource, namespace: namespace.isEmpty ? nil : namespace, name: name) {
            await capture.index.record(key, version: ResourceCapture.resourceVersion(object) ?? "", node: capture.resource.kind == "Node" ? object : nil)
            let change = ResourceChange(resource: capture.resource, namespace: namespace, name: name, action: .put(object))
            await queue.enqueue(key: change.key, item: change)
        } else {
            await capture.index.remove(key)
            let change = ResourceChange(resource: capture.resource, namespace: namespace, name: name, action: .delete)
            await queue.enqueue(key: change.key, item: change)
        }
    }
}
