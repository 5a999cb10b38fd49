import BCSCore
import BCSKube
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// `bcs k8s-watch` as a Service: captures per resource and namespace, the two shipping queues,
/// their shippers and the reconciler.
///
/// On graceful shutdown the watches stop first, then the queues close and the shippers deliver
/// what is left (the ServiceGroup's shutdown timeout bounds this; anything still unshipped is in
/// the apiserver and is listed again at the next start).
public struct K8sWatchService: Service, CustomStringConvertible {
    public let options: K8sWatchOptions
    let client: KubeWatchClient
    let storage: StorageClient
    let logger: Logger
    let metrics = WatchMetrics()
    public let eventQueue: ShippingQueue<QueuedEvent>
    public let resourceQueue: ShippingQueue<ResourceChange>

    public init(options: K8sWatchOptions, client: KubeWatchClient, storage: StorageClient, logger: Logger) {
        self.options = options
        self.client = client
        self.storage = storage
        self.logger = logger
        let metrics = self.metrics
        let log = logger
        eventQueue = ShippingQueue(capacity: options.eventQueueCapacity, maxBlock: options.maxBlock, onDrop: { uid in
            metrics.eventsDropped.increment()
            log.error("event queue full for longer than the event retention; dropped the oldest waiting event", metadata: ["uid": "\(uid)"])
        }, onDepth: { metrics.eventQueueDepth.record($0) })
        resourceQueue = ShippingQueue(capacity: options.resourceQueueCapacity, maxBlock: options.maxBlock, onDrop: { key in
            metrics.resourcesDropped.increment()
            log.error("resource queue full for longer than the event retention; dropped the oldest waiting change", metadata: ["object": "\(key)"])
        }, onDepth: { metrics.resourceQueueDepth.record($0) })
    }

    /// Names the service without its fields: ServiceLifecycle logs service descriptions, and the
    /// storage client holds a bearer token.
    public var description: String { "K8sWatchService(cluster: \(options.clusterId))" }

    /// One capture per resource, and per namespace when namespaces are given (cluster-scoped kinds once).
    func makeCaptures() -> [ResourceCapture] {
        var captures: [ResourceCapture] = []
        for resource in options.resources {
            let scopes: [String?] = (resource.namespaced && !options.namespaces.isEmpty) ? options.namespaces.map { $0 } : [nil]
            for namespace in scopes {
                captures.append(ResourceCapture(resource: resource, namespace: namespace, client: client, clusterId: options.clusterId,
                                                events: eventQueue, resources: resourceQueue, watchTimeout: options.watchTimeout,
                                                backoff: options.watchBackoff, metrics: metrics, logger: logger))
            }
        }
        return captures
    }

    public func run() async throws {
        let captures = makeCaptures()
        let reconciler = Reconciler(captures: captures.filter { !$0.isEvent }, client: client, storage: storage, queue: resourceQueue,
                                    clusterId: options.clusterId, initialDelay: options.reconcileInitialDelay, interval: options.reconcileInterval,
                                    metrics: metrics, logger: logger)
        let eventShipper = EventShipper(queue: eventQueue, storage: storage, batchSize: options.batchSize, flushInterval: options.flushInterval,
                                        backoff: options.shipBackoff, metrics: metrics, logger: logger)
        let resourceShipper = ResourceShipper(queue: resourceQueue, storage: storage, clusterId: options.clusterId,
                                              backoff: options.shipBackoff, metrics: metrics, logger: logger)
        logger.info("watching", metadata: ["cluster": "\(options.clusterId)", "resources": "\(options.resources.map(\.kind).joined(separator: ","))",
                                           "namespaces": "\(options.namespaces.isEmpty ? "all" : options.namespaces.joined(separator: ","))",
                                           "storage": "\(storage.base)"])
        let watching = Task {
            await withDiscardingTaskGroup { group in
                for capture in captures { group.addTask { await capture.run() } }
                group.addTask { await reconciler.run() }
            }
        }
        let (eventQueue, resourceQueue) = (self.eventQueue, self.resourceQueue)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    for _ in 0..<max(options.eventShippers, 1) { group.addTask { await eventShipper.run() } }
                    for _ in 0..<max(options.resourceShippers, 1) { group.addTask { await resourceShipper.run() } }
                }
            } onGracefulShutdown: {
                watching.cancel()
                Task {
                    await eventQueue.close()
                    await resourceQueue.close()
                }
            }
        } onCancel: {
            watching.cancel()
            Task {
                await eventQueue.close()
                await resourceQueue.close()
            }
        }
        watching.cancel()
        await watching.value
        let (unshippedEvents, unshippedChanges) = (await eventQueue.count, await resourceQueue.count)
        logger.info("stopped", metadata: ["unshippedEvents": "\(unshippedEvents)", "unshippedChanges": "\(unshippedChanges)"])
    }
}
