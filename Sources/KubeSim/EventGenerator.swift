import BCSMongo
import Foundation
import ServiceLifecycle

/// `--event-rate N`: N core/v1 Events a second across namespaces and objects.
///
/// Reasons and types follow what kubelets and controllers emit; about a third of the ticks repeat a
/// recent event, bumping its `count` and `lastTimestamp` as the apiserver's event deduplication
/// does. Generated events are recycled oldest first beyond `keep`, so the store stays bounded.
struct EventGenerator: Service {
    let store: ObjectStore
    let rate: Double
    var keep = 1000

    private static let samples: [(type: String, reason: String, kind: String, message: String)] = [
        ("Normal", "Scheduled", "Pod", "Successfully assigned %@ to sim-node-1"),
        ("Normal", "Pulling", "Pod", "Pulling image \"nginx:1.27\""),
        ("Normal", "Pulled", "Pod", "Successfully pulled image \"nginx:1.27\" in 1.2s"),
        ("Normal", "Created", "Pod", "Created container main"),
        ("Normal", "Started", "Pod", "Started container main"),
        ("Warning", "BackOff", "Pod", "Back-off restarting failed container main in pod %@"),
        ("Warning", "Unhealthy", "Pod", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
        ("Normal", "ScalingReplicaSet", "Deployment", "Scaled up replica set %@-7d9f8 to 3"),
        ("Normal", "Killing", "Pod", "Stopping container main"),
        ("Warning", "FailedMount", "Pod", "MountVolume.SetUp failed for volume \"config\" : configmap \"app-config\" not found"),
    ]
    private static let namespaces = ["default", "kube-system"]

    func run() async throws {
        let events = ResourceCatalog.find(groupVersion: "v1", name: "events")!
        let interval = Duration.nanoseconds(Int64(1e9 / max(rate, 0.001)))
        var generated: [(namespace: String, name: String)] = []
        var serial = 0
        var generator = SystemRandomNumberGenerator()
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            serial += 1
            if let recent = generated.suffix(20).randomElement(using: &generator), Int.random(in: 0..<3, using: &generator) == 0 {
                let now = Timestamps.now()
                _ = try? await store.modify(events, namespace: recent.namespace, name: recent.name) { current throws(KubeStatus) in
                    var next = current
                    next["count"] = .int64(Int64((current["count"]?.intValue ?? 1) + 1))
                    next["lastTimestamp"] = .string(now)
                    return next
                }
                continue
            }
            let sample = Self.samples.randomElement(using: &generator)!
            let namespace = Self.namespaces.randomElement(using: &generator)!
            let objectName = (sample.kind == "Pod" ? "web-" : "app-") + String(Int.random(in: 0..<20, using: &generator))
            let name = "\(objectName).\(String(format: "%08x", serial))"
            let now = Timestamps.now()
            let event: BSONDocument = [
                "apiVersion": "v1", "kind": "Event",
                "metadata": .document(["name": .string(name), "namespace": .string(namespace)]),
                "involvedObject": .document(["kind": .string(sample.kind), "namespace": .string(namespace), "name": .string(objectName),
                                             "apiVersion": .string(sample.kind == "Pod" ? "v1" : "apps/v1")]),
                "reason": .string(sample.reason), "type": .string(sample.type),
                "message": .string(sample.message.replacingOccurrences(of: "%@", with: objectName)),
                "source": .document(["component": .string(sample.kind == "Pod" ? "kubelet" : "deployment-controller"), "host": "sim-node-1"]),
                "firstTimestamp": .string(now), "lastTimestamp": .string(now), "count": 1,
                "reportingComponent": .string(sample.kind == "Pod" ? "kubelet" : "deployment-controller"),
            ]
            if (try? await store.create(events, namespace: namespace, object: event)) != nil { generated.append((namespace, name)) }
            if generated.count > keep {
                let oldest = generated.removeFirst()
                _ = try? await store.delete(events, namespace: oldest.namespace, name: oldest.name)
            }
        }
    }
}
