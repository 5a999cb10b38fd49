/// One served resource type: its discovery entry, its kind and where it lives.
struct ResourceType: Sendable {
    let group: String
    let version: String
    let name: String
    let singular: String
    let kind: String
    let namespaced: Bool
    let shortNames: [String]
    let categories: [String]

    var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var listKind: String { kind + "List" }
}

/// The resource types the simulator serves, in discovery order.
///
/// Kept deliberately small: what the gateway, agent, watcher and kubectl tests touch. A kind missing
/// here is missing from discovery too, so kubectl says "the server doesn't have a resource type".
enum ResourceCatalog {
    static let verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    static let all: [ResourceType] = [
        ResourceType(group: "", version: "v1", name: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false, shortNames: ["ns"], categories: []),
        ResourceType(group: "", version: "v1", name: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"], categories: ["all"]),
        ResourceType(group: "", version: "v1", name: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, shortNames: ["cm"], categories: []),
        ResourceType(group: "", version: "v1", name: "secrets", singular: "secret", kind: "Secret", namespaced: true, shortNames: [], categories: []),
        ResourceType(group: "", version: "v1", name: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true, shortNames: ["sa"], categories: []),
        ResourceType(group: "", version: "v1", name: "services", singular: "service", kind: "Service", namespaced: true, shortNames: ["svc"], categories: ["all"]),
        ResourceType(group: "", version: "v1", name: "events", singular: "event", kind: "Event", namespaced: true, shortNames: ["ev"], categories: []),
        ResourceType(group: "", version: "v1", name: "nodes", singular: "node", kind: "Node", namespaced: false, shortNames: ["no"], categories: []),
        ResourceType(group: "apps", version: "v1", name: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, shortNames: ["deploy"], categories: ["all"]),
    ]

    static func find(groupVersion: String, name: String) -> ResourceType? {
        all.first { $0.groupVersion == groupVersion && $0.name == name }
    }

    static func resources(in groupVersion: String) -> [ResourceType] { all.filter { $0.groupVersion == groupVersion } }

    /// Subresources listed in discovery beside their parent: `(parent, name, kind, group, version, verbs)`.
    static let subresources: [(parent: String, name: String, kind: String, group: String?, version: String?, verbs: [String])] = [
        ("pods", "log", "Pod", nil, nil, ["get"]),
        ("pods", "exec", "PodExecOptions", nil, nil, ["create", "get"]),
        ("pods", "attach", "PodAttachOptions", nil, nil, ["create", "get"]),
        ("pods", "portforward", "PodPortForwardOptions", nil, nil, ["create", "get"]),
        ("pods", "status", "Pod", nil, nil, ["get", "patch", "update"]),
        ("deployments", "scale", "Scale", "autoscaling", "v1", ["get", "patch", "update"]),
        ("deployments", "status", "Deployment", nil, nil, ["get", "patch", "update"]),
    ]
}
