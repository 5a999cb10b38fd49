import BCSMongo
import Foundation

/// Where a watch's changes go, straight from the store: `deliver` is false when the watch holds
/// `ObjectStore.watcherBuffer` undelivered changes (it is then ended); `finish` ends it.
struct WatchSink: Sendable {
    let deliver: @Sendable (WatchEvent) -> Bool
    let finish: @Sendable () -> Void
}

/// Every simulated object, one global resourceVersion counter, and the watch window.
///
/// An actor: each mutation stamps the next resourceVersion, records the change in the window and
/// hands it to the live watchers in one step, so a watch never misses or reorders a change.
actor ObjectStore {
    let maxObjects: Int
    /// Changes queued for one watch connection before it is ended as too slow.
    static let watcherBuffer = 10_000
    private var objects: [String: [String: BSONDocument]] = [:]
    private var count = 0
    private(set) var resourceVersion = 1
    private var window: WatchWindow
    private var watchers: [UUID: (resource: String, namespace: String?, sink: WatchSink)] = [:]

    init(maxObjects: Int, watchWindow: Int) {
        self.maxObjects = maxObjects
        self.window = WatchWindow(capacity: watchWindow, floor: 1)
    }

    private static func key(_ namespace: String, _ name: String) -> String { namespace + "/" + name }

    var objectCount: Int { count }

    func get(_ type: ResourceType, namespace: String, name: String) throws(KubeStatus) -> BSONDocument {
        guard let object = objects[type.name]?[Self.key(namespace, name)] else { throw .notFound(type.name, name, group: type.group) }
        return object
    }

    func exists(_ type: ResourceType, namespace: String, name: String) -> Bool { objects[type.name]?[Self.key(namespace, name)] != nil }

    /// Objects of a type (in one namespace, or all), ordered by namespace then name, and the list's RV.
    func list(_ type: ResourceType, namespace: String?) -> ([BSONDocument], Int) {
        let bucket = objects[type.name] ?? [:]
        let keys = bucket.keys.sorted().filter { namespace == nil || $0.hasPrefix(namespace! + "/") }
        return (keys.map { bucket[$0]! }, resourceVersion)
    }

    func create(_ type: ResourceType, namespace: String, object: BSONDocument) throws(KubeStatus) -> BSONDocument {
        let name = object.string("metadata", "name") ?? ""
        if type.namespaced, !exists(ResourceCatalog.all[0], namespace: "", name: namespace) {
            throw .notFound("namespaces", namespace)
        }
        guard objects[type.name]?[Self.key(namespace, name)] == nil else { throw .alreadyExists(type.name, name, group: type.group) }
        guard count < maxObjects else {
            throw KubeStatus(code: 507, reason: "InternalError", message: "kube-sim holds its maximum of \(maxObjects) objects; delete some first")
        }
        var stored = object
        resourceVersion += 1
        var metadata = stored["metadata"]?.documentValue ?? BSONDocument()
        metadata["uid"] = .string(UUID().uuidString.lowercased())
        metadata["resourceVersion"] = .string(String(resourceVersion))
        metadata["creationTimestamp"] = .string(Timestamps.now())
        if type.namespaced { metadata["namespace"] = .string(namespace) } else { metadata["namespace"] = nil }
        if type.name != "namespaces", type.name != "events" { metadata["generation"] = .int64(1) }
        stored["metadata"] = .document(metadata)
        stored = Simulation.fill(type, stored)
        objects[type.name, default: [:]][Self.key(namespace, name)] = stored
        count += 1
        record(.added, type, namespace, stored)
        return stored
    }

    /// Replaces an object; a body resourceVersion that is not the stored one is a Conflict.
    func update(_ type: ResourceType, namespace: String, name: String, object: BSONDocument) throws(KubeStatus) -> BSONDocument {
        let current = try get(type, namespace: namespace, name: name)
        if let given = object.string("metadata", "resourceVersion"), !given.isEmpty, given != current.string("metadata", "resourceVersion") {
            throw .conflict(type.name, name)
        }
        return commit(type, namespace: namespace, name: name, current: current, next: object)
    }

    /// Applies `change` to the stored object atomically (patches, scale).
    func modify(_ type: ResourceType, namespace: String, name: String,
                _ change: @Sendable (BSONDocument) throws(KubeStatus) -> BSONDocument) throws(KubeStatus) -> BSONDocument {
        let current = try get(type, namespace: namespace, name: name)
        let next = try change(current)
        if let given = next.string("metadata", "resourceVersion"), given != current.string("metadata", "resourceVersion") {
            throw .conflict(type.name, name)
        }
        return commit(type, namespace: namespace, name: name, current: current, next: next)
    }

    private func commit(_ type: ResourceType, namespace: String, name: String, current: BSONDocument, next: BSONDocument) -> BSONDocument {
        var metadata = next["metadata"]?.documentValue ?? BSONDocument()
        let old = current["metadata"]?.documentValue ?? BSONDocument()
        for field in ["uid", "creationTimestamp", "name", "namespace", "generation", "resourceVersion"] { metadata[field] = old[field] }
        var stored = next
        stored["metadata"] = .document(metadata)
        if stored["status"] == nil { stored["status"] = current["status"] }
        stored = Simulation.fill(type, stored)
        // Nothing changed: the apiserver answers with the object as stored and bumps nothing.
        if stored == current { return current }
        resourceVersion += 1
        if let generation = old["generation"]?.intValue, current["spec"] != stored["spec"] {
            metadata["generation"] = .int64(Int64(generation + 1))
        }
        metadata["resourceVersion"] = .string(String(resourceVersion))
        stored["metadata"] = .document(metadata)
        stored = Simulation.fill(type, stored)
        objects[type.name, default: [:]][Self.key(namespace, name)] = stored
        record(.modified, type, namespace, stored, previous: current)
        return stored
    }

    func delete(_ type: ResourceType, namespace: String, name: String) throws(KubeStatus) -> BSONDocument {
        var object = try get(type, namespace: namespace, name: name)
        if type.name == "namespaces" {
            for other in ResourceCatalog.all where other.namespaced {
                for child in list(other, namespace: name).0 {
                    if let childName = child.string("metadata", "name") { _ = try? delete(other, namespace: name, name: childName) }
                }
            }
        }
        objects[type.name]?[Self.key(namespace, name)] = nil
        count -= 1
        resourceVersion += 1
        object.set(["metadata", "resourceVersion"], .string(String(resourceVersion)))
        record(.deleted, type, namespace, object)
        return object
    }

    /// Starts a watch: the changes to replay (all current objects as ADDED when `from` is nil),
    /// then a stream of later ones. Throws 410 Expired when `from` fell out of the window.
    func watch(_ type: ResourceType, namespace: String?, from: Int?, sink: WatchSink) throws(KubeStatus) -> (id: UUID, replay: [WatchEvent]) {
        let replay: [WatchEvent]
        if let from {
            guard let missed = window.since(from) else {
                throw .gone("too old resource version: \(from) (\(window.floor))")
            }
            replay = missed.filter { $0.resource == type.name && (namespace == nil || $0.namespace == namespace) }
        } else {
            replay = list(type, namespace: namespace).0.map {
                WatchEvent(resourceVersion: Int($0.string("metadata", "resourceVersion") ?? "") ?? 0, kind: .added,
                           resource: type.name, namespace: $0.string("metadata", "namespace") ?? "", object: $0)
            }
        }
        let id = UUID()
        watchers[id] = (type.name, namespace, sink)
        return (id, replay)
    }

    func stopWatching(_ id: UUID) {
        watchers.removeValue(forKey: id)?.sink.finish()
    }

    private func record(_ kind: WatchEvent.Kind, _ type: ResourceType, _ namespace: String, _ object: BSONDocument, previous: BSONDocument? = nil) {
        let event = WatchEvent(resourceVersion: resourceVersion, kind: kind, resource: type.name, namespace: namespace, object: object, previous: previous)
        window.append(event)
        for (id, watcher) in watchers where watcher.resource == type.name && (watcher.namespace == nil || watcher.namespace == namespace) {
            // A watcher too slow to keep up is ended after what it has buffered; its client
            // resumes from the last resourceVersion it saw and replays the rest from the window.
            if !watcher.sink.deliver(event) {
                watchers.removeValue(forKey: id)?.sink.finish()
            }
        }
    }
}
