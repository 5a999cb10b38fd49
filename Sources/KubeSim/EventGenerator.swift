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

    /// How often the generator wakes to make the events that fell due: waking once per event cost
    /// more than making it (a timer and a thread wake-up every 0.3 ms at 3,000/s).
    static let tick: Duration = .milliseconds(10)

    func run() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        var state = State()
        var produced = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: Self.tick)
            let elapsed = clock.now - started
            let due = Int((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * rate)
            // After a stall, catch up at most a second's worth rather than burst without bound.
            if due - produced > Int(rate.rounded(.up)) { produced = due - Int(rate.rounded(.up)) }
            while produced < due, !Task.isCancelled {
                produced += 1
                await emit(&state)
            }
        }
    }

    /// What the generator remembers between events.
    struct State {
        var generated: [(namespace: String, name: String)] = []
        var serial = 0
        var random = SystemRandomNumberGenerator()
        private var stamp: (second: Int, text: String) = (-1, "")

        /// Now in the Events' one-second RFC 3339 form, formatted once per second.
        mutating func now() -> String {
            let date = Date()
            let second = Int(date.timeIntervalSince1970)
            if second != stamp.second { stamp = (second, Timestamps.format(Date(timeIntervalSince1970: Double(second)))) }
            return stamp.text
        }
    }

    private static let events = ResourceCatalog.find(groupVersion: "v1", name: "events")!

    /// One event: a third of the time a recent one repeated (its count bumped), otherwise a new one.
    private func emit(_ state: inout State) async {
        let events = Self.events
        state.serial += 1
        if let recent = state.generated.suffix(20).randomElement(using: &state.random), Int.random(in: 0..<3, using: &state.random) == 0 {
            let now = state.now()
            _ = try? await store.modify(events, namespace: recent.namespace, name: recent.name) { current throws(KubeStatus) in
                var next = current
                next["count"] = .int64(Int64((current["count"]?.intValue ?? 1) + 1))
                next["lastTimestamp"] = .string(now)
                return next
            }
            return
        }
        let sample = Self.samples.randomElement(using: &state.random)!
        let namespace = Self.namespaces.randomElement(using: &state.random)!
        let objectName = (sample.kind == "Pod" ? "web-" : "app-") + String(Int.random(in: 0..<20, using: &state.random))
        let hex = String(state.serial, radix: 16)
        let name = objectName + "." + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
        let now = state.now()
        let event: BSONDocument = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": .document(["name": .string(name), "namespace": .string(namespace)]),
            "involvedObject": .document(["kind": .string(sample.kind), "namespace": .string(namespace), "name": .string(objectName),
                                         "apiVersion": .string(sample.kind == "Pod" ? "v1" : "apps/v1")]),
            "reason": .string(sample.reason), "type": .string(sample.type),
            "message": .string(sample.message.replacing("%@", with: objectName)),
            "source": .document(["component": .string(sample.kind == "Pod" ? "kubelet" : "deployment-controller"), "host": "sim-node-1"]),
            "firstTimestamp": .string(now), "lastTimestamp": .string(now), "count": 1,
            "reportingComponent": .string(sample.kind == "Pod" ? "kubelet" : "deployment-controller"),
        ]
        if (try? await store.create(events, namespace: namespace, object: event)) != nil { state.generated.append((namespace, name)) }
        if state.generated.count > keep {
            let oldest = state.generated.removeFirst()
            _ = try? await store.delete(events, namespace: oldest.namespace, name: oldest.name)
        }
    }
}
