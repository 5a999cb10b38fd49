import BCSCore
import BCSKube
import Foundation
import Logging
import Metrics

/// Writes object changes to the dynamic-resource routes: PUT `{"data": object}` or DELETE.
///
/// One object per request (the routes have no batch form); several shippers run side by side,
/// and the queue never hands out the same object twice at once, so each object's changes stay in
/// order. Unavailable storage is retried with capped backoff; a DELETE answered 404 is done; a
/// PUT storage rejects as invalid is dropped, counted and logged.
struct ResourceShipper: Sendable {
    let queue: ShippingQueue<ResourceChange>
    let storage: StorageClient
    let clusterId: String
    let backoff: Backoff
    let metrics: WatchMetrics
    let logger: Logger

    func run() async {
        while let batch = await queue.nextBatch(max: 1, linger: .zero) {
            for entry in batch { await ship(entry.item) }
            await queue.complete(batch.map(\.key))
        }
    }

    func ship(_ change: ResourceChange) async {
        let path = StorageClient.resourcePath(clusterId: clusterId, resource: change.resource, namespace: change.namespace, name: change.name)
        var attempt = 0
        while true {
            let outcome: StorageClient.Outcome
            switch change.action {
            case .put(let object): outcome = await storage.putResource(path, object: object)
            case .delete: outcome = await storage.deleteResource(path)
            }
            switch outcome {
            case .ok, .notFound:
                metrics.resourcesShipped.increment()
                return
            case .retry(let reason):
                if Task.isCancelled {
                    // Shutdown ran out of time: the apiserver still holds this and the next start lists it again.
                    logger.notice("shutdown: change left unshipped", metadata: ["reason": "\(reason)"])
                    return
                }
                attempt += 1
                metrics.resourcesRetried.increment()
                let delay = backoff.delay(attempt: attempt)
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("storage unavailable; retrying", metadata: ["object": "\(change.key)", "attempt": "\(attempt)", "delay": "\(delay)", "reason": "\(reason)"])
                }
                do { try await Task.sleep(for: delay) } catch { return }
            case .rejected(let status, let message):
                metrics.resourcesDropped.increment()
                logger.error("storage rejected an object; dropped", metadata: ["object": "\(change.key)", "status": "\(status)", "message": "\(message)"])
                return
            }
        }
    }
}
