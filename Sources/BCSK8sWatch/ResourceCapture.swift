import BCSCore
import BCSKube
import Foundation
import Logging
import Metrics

/// List-then-watch of one resource (in one namespace, or all), feeding the shipping queues.
///
/// Lists, then watches from the list's resourceVersion; when a watch ends or breaks it resumes
/// from the last version seen (bookmarks included) and lists again only on `410 Gone`. Events
/// keep ADDED and MODIFIED (a repeated event's `count` and `lastTimestamp` change) and ignore
/// DELETED (the apiserver expiring an event is not news). Other resources become a PUT on add or
/// update and a DELETE on delete; Node updates that only move heartbeat times are skipped. After a
/// relist, objects the index knows but the list lacks were deleted unseen and are deleted.
/// Enqueueing suspends while the queue is full, so a slow storage slows reading instead of
/// losing changes.
public struct ResourceCapture: Sendable {
    public let resource: KubeResource
    public let namespace: String?
    let client: KubeWatchClient
    let clusterId: String
    let events: ShippingQueue<QueuedEvent>
    let resources: ShippingQueue<ResourceChange>
    public let index: ObjectIndex
    let watchTimeout: Int
    let backoff: Backoff
    let metrics: WatchMetrics
    let logger: Logger

    init(resource: KubeResource, namespace: String?, client: KubeWatchClient, clusterId: String, events: ShippingQueue<QueuedEvent>,
         resources: ShippingQueue<ResourceChange>, watchTimeout: Int, backoff: Backoff, metrics: WatchMetrics, logger: Logger) {
        self.resource = resource
        self.namespace = namespace
        self.client = client
        self.clusterId = clusterId
        self.events = events
        self.resources = resources
        self.index = ObjectIndex()
        self.watchTimeout = watchTimeout
        self.backoff = backoff
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "resource"] = "\(resource.kind)"
        if let namespace { logger[metadataKey: "namespace"] = "\(namespace)" }
        self.logger = logger
    }

    var isEvent: Bool { resource.kind == "Event" && resource.groupVersion == "v1" }

    /// Runs until cancelled or the queues close.
    public func run() async {
        var version: String?
        var failures = 0
        let relists = metrics.relisted(resource.kind)
        let restarts = metrics.watchRestarted(resource.kind)
        while !Task.isCancelled, await !events.isClosed {
            do {
                if version == nil {
                    version = try await relist()
                    logger.debug("listed", metadata: ["resourceVersion": "\(version ?? "")"])
                }
                // False when the queues closed (shutdown): the capture ends.
                let goOn = try await client.watch(resource, namespace: namespace, resourceVersion: version, timeoutSeconds: watchTimeout) { stream in
                    failures = 0
                    for try await event in stream {
                        switch event {
                        case .added(let object), .modified(let object):
                            guard await handle(object, deleted: false) else { return false }
                            version = Self.resourceVersion(object) ?? version
                        case .deleted(let object):
                            guard await handle(object, deleted: true) else { return false }
                            version = Self.resourceVersion(object) ?? version
                        case .bookmark(let bookmarked):
                            version = bookmarked
                        case .expired(let message):
                            logger.info("watch expired (410): listing again", metadata: ["reason": "\(message)"])
                            relists.increment()
                            version = nil
                            return true
                        case .error(let status, let message):
                            throw KubeAPIError(status: status, reason: "WatchError", message: message)
                        }
                    }
                    return true
                }
                guard goOn else { return }
                restarts.increment()
            } catch let error as KubeAPIError where error.isGone {
                logger.info("resourceVersion gone (410): listing again", metadata: ["reason": "\(error.message)"])
                relists.increment()
                version = nil
            } catch {
                if Task.isCancelled { return }
                failures += 1
                restarts.increment()
                let delay = backoff.delay(attempt: failures)
                logger.warning("list/watch failed; retrying", metadata: ["error": "\(error)", "attempt": "\(failures)", "delay": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Lists everything, queues what changed, deletes what vanished; returns the version to watch from.
    func relist() async throws -> String {
        var seen: Set<String> = []
        let version = try await client.list(resource, namespace: namespace) { items in
            for object in items {
                if !isEvent { seen.insert(Self.indexKey(object)) }
                guard await handle(object, deleted: false) else { throw CancellationError() }
            }
        }
        if !isEvent {
            for key in await index.keys(notIn: seen) {
                let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                await index.remove(key)
                let change = ResourceChange(resource: resource, namespace: parts[0], name: parts.count > 1 ? parts[1] : "", action: .delete)
                guard await resources.enqueue(key: change.key, item: change) else { throw CancellationError() }
            }
        }
        return version
    }

    /// Queues one change; false when the queues closed (shutdown).
    func handle(_ object: JSONValue, deleted: Bool) async -> Bool {
        if isEvent {
            guard !deleted else { return true }
            guard let uid = object[path: "metadata", "uid"]?.stringValue, let body = EventMapper.body(for: object, clusterId: clusterId) else {
                logger.warning("an Event without metadata.uid was skipped", metadata: ["name": "\(object[path: "metadata", "name"]?.stringValue ?? "")"])
                return true
            }
            metrics.eventsSeen.increment()
            return await events.enqueue(key: uid, item: QueuedEvent(body: body, happened: EventMapper.eventDate(object) ?? Date()))
        }
        let namespace = object[path: "metadata", "namespace"]?.stringValue ?? ""
        guard let name = object[path: "metadata", "name"]?.stringValue, !name.isEmpty else { return true }
        let key = ObjectIndex.key(namespace: namespace, name: name)
        if deleted {
            await index.remove(key)
            let change = ResourceChange(resource: resource, namespace: namespace, name: name, action: .delete)
            return await resources.enqueue(key: change.key, item: change)
        }
        let version = Self.resourceVersion(object) ?? ""
        if await index.version(of: key) == version, !version.isEmpty { return true }
        if resource.kind == "Node" {
            if let last = await index.lastNode(key), NodeHeartbeat.onlyHeartbeatChanged(old: last, new: object) {
                metrics.heartbeatsSkipped.increment()
                return true
            }
            await index.record(key, version: version, node: object)
        } else {
            await index.record(key, version: version)
        }
        let change = ResourceChange(resource: resource, namespace: namespace, name: name, action: .put(object))
        return await resources.enqueue(key: change.key, item: change)
    }

    static func resourceVersion(_ object: JSONValue) -> String? { object[path: "metadata", "resourceVersion"]?.stringValue }

    static func indexKey(_ object: JSONValue) -> String {
        ObjectIndex.key(namespace: object[path: "metadata", "namespace"]?.stringValue ?? "", name: object[path: "metadata", "name"]?.stringValue ?? "")
    }
}
