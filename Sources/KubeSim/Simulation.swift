import BCSMongo
import Foundation

/// What the simulated controllers and kubelets would have done: defaults and status.
///
/// There is no scheduler or kubelet, so a pod is Running on the one simulated node at once and a
/// deployment reports all its replicas ready; that is what the gateway and watcher need to see.
enum Simulation {
    static let nodeName = "sim-node-1"

    static func fill(_ type: ResourceType, _ object: BSONDocument) -> BSONDocument {
        var object = object
        object["apiVersion"] = .string(type.groupVersion)
        object["kind"] = .string(type.kind)
        switch type.name {
        case "namespaces":
            if object["spec"] == nil { object["spec"] = .document(["finalizers": ["kubernetes"]]) }
            object["status"] = .document(["phase": "Active"])
        case "pods":
            if object.string("spec", "nodeName") == nil { object.set(["spec", "nodeName"], .string(nodeName)) }
            if object.string("status", "phase") == nil {
                let containers = object["spec"]?.doc["containers"]?.arrayValue ?? []
                let statuses: [BSON] = containers.map { container in
                    .document(["name": container.doc["name"] ?? "", "image": container.doc["image"] ?? "", "ready": true, "restartCount": 0,
                               "started": true, "state": .document(["running": .document(["startedAt": .string(Timestamps.now())])])])
                }
                object["status"] = .document([
                    "phase": "Running", "hostIP": "10.0.0.1", "podIP": .string(podIP(object.string("metadata", "name") ?? "")),
                    "startTime": .string(Timestamps.now()),
                    "conditions": [.document(["type": "Ready", "status": "True"])],
                    "containerStatuses": .array(statuses),
                ])
            }
        case "deployments":
            let replicas = object["spec"]?.doc["replicas"]?.intValue ?? 1
            object.set(["spec", "replicas"], .int64(Int64(replicas)))
            let generation = object["metadata"]?.doc["generation"]?.intValue ?? 1
            object["status"] = .document([
                "observedGeneration": .int64(Int64(generation)), "replicas": .int64(Int64(replicas)),
                "updatedReplicas": .int64(Int64(replicas)), "readyReplicas": .int64(Int64(replicas)),
                "availableReplicas": .int64(Int64(replicas)),
            ])
        case "services":
            if object.string("spec", "type") == nil { object.set(["spec", "type"], "ClusterIP") }
            if object.string("spec", "clusterIP") == nil {
                object.set(["spec", "clusterIP"], .string("10.96." + podIP(object.string("metadata", "name") ?? "").split(separator: ".").suffix(2).joined(separator: ".")))
            }
        case "secrets":
            if (object.string("type") ?? "").isEmpty { object["type"] = "Opaque" }
            // The apiserver folds write-only stringData into base64 data.
            if let plain = object["stringData"]?.documentValue {
                var data = object["data"]?.documentValue ?? BSONDocument()
                for (key, value) in plain.elements { data[key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString()) }
                object["data"] = .document(data)
                object["stringData"] = nil
            }
        case "nodes":
            if object["status"] == nil {
                object["status"] = .document([
                    "conditions": [.document(["type": "Ready", "status": "True", "reason": "KubeletReady"])],
                    "nodeInfo": .document(["kubeletVersion": .string(KubeSimVersion.gitVersion)]),
                ])
            }
        default:
            break
        }
        return object
    }

    /// A stable address in 10.244.0.0/16 derived from the name.
    static func podIP(_ name: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "10.244.\((hash >> 8) % 254 + 1).\(hash % 254 + 1)"
    }
}
