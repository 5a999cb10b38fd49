import BCSCore
import BCSKube
import Foundation
import Logging
import Metrics

/// Takes batches of events off the queue and writes them with `POST /events/batch`.
///
/// A batch leaves when `batchSize` events wait or the oldest has waited `flushInterval`. While
/// storage is unreachable or answers 5xx/408/429 the same batch is retried with capped exponential
/// backoff, holding its places in the queue (so the queue fills and the watches pause). Storage
/// upserts by `(clusterId, uid)` keeping the newest resourceVersion, so a retried batch whose
/// first attempt did land duplicates nothing. A batch storage rejects as invalid (4xx) is resent
/// one event at a time so only the offending events are dropped, each counted and logged.
struct EventShipper: Sendable {
    let queue: ShippingQueue<QueuedEvent>
    let storage: StorageClient
    let batchSize: Int
    let flushInterval: Duration
    let backoff: Backoff
    let metrics: WatchMetrics
    let logger: Logger

    func run() async {
        while let batch = await queue.nextBatch(max: batchSize, linger: flushInterval) {
            await ship(batch)
            await queue.complete(batch.map(\.key))
        }
    }

    func ship(_ batch: [ShippingQueue<QueuedEvent>.Entry]) async {
        var attempt = 0
        while true {
            switch await storage.postEvents(batch.map(\.item.body)) {
            case .ok, .notFound:
                metrics.eventsShipped.increment(by: Int64(batch.count))
                let now = Date()
                for entry in batch { metrics.eventLag.recordNanoseconds(Int64(max(0, now.timeIntervalSince(entry.item.happened)) * 1e9)) }
                if attempt > 0 { logger.info("storage accepted the batch again", metadata: ["events": "\(batch.count)", "attempts": "\(attempt + 1)"]) }
                return
            case .retry(let reason):
                if Task.isCancelled {
                    // Shutdown ran out of time: the apiserver still holds this and the next start lists it again.
                    logger.notice("shutdown: batch left unshipped", metadata: ["reason": "\(reason)"])
                    return
                }
                attempt += 1
                metrics.eventsRetried.increment(by: Int64(batch.count))
                let delay = backoff.delay(attempt: attempt)
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("storage unavailable; retrying the batch", metadata: ["events": "\(batch.count)", "attempt": "\(attempt)", "delay": "\(delay)", "reason": "\(reason)"])
                }
                // A hard shutdown (cancellation) gives up: the apiserver still holds these events
                // and the next start lists them again.
                do { try await Task.sleep(for: delay) } catch { return }
            case .rejected(let status, let message):
                if batch.count > 1 {
                    logger.warning("storage rejected a batch; resending its events one by one", metadata: ["status": "\(status)", "message": "\(message)"])
                    for entry in batch { await ship([entry]) }
                    return
                }
                metrics.eventsDropped.increment()
                logger.error("storage rejected an event; dropped", metadata: ["uid": "\(batch[0].key)", "status": "\(status)", "message": "\(message)"])
                return
            }
        }
    }
}
