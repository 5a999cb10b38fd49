import Foundation

/// One Kubernetes resource type as the REST API addresses it: group/version, plural, scope.
///
/// Built-in kinds a BCS component watches are in `known`; anything else can be described
/// explicitly (`KubeResource(kind: "Widget", groupVersion: "example.com/v1", plural: "widgets", namespaced: true)`).
public struct KubeResource: Sendable, Hashable, CustomStringConvertible {
    public var kind: String
    /// `v1` for the core group, otherwise `group/version` (`apps/v1`).
    public var groupVersion: String
    public var plural: String
    public var namespaced: Bool

    public init(kind: String, groupVersion: String, plural: String, namespaced: Bool) {
        self.kind = kind
        self.groupVersion = groupVersion
        self.plural = plural
        self.namespaced = namespaced
    }

    public var description: String { kind }

    /// The collection path, optionally inside one namespace: `/api/v1/namespaces/ns/pods`, `/apis/apps/v1/deployments`.
    public func collectionPath(namespace: String?) -> String {
        let root = groupVersion.contains("/") ? "/apis/\(groupVersion)" : "/api/\(groupVersion)"
        if namespaced, let namespace, !namespace.isEmpty {
            return "\(root)/namespaces/\(Self.escape(namespace))/\(plural)"
        }
        return "\(root)/\(plural)"
    }

    /// The path of one object.
    public func objectPath(namespace: String?, name: String) -> String {
        collectionPath(namespace: namespaced ? namespace : nil) + "/" + Self.escape(name)
    }

    private static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(.init(charactersIn: "/"))) ?? segment
    }

    /// Built-in kinds, by kind name.
    public static let known: [String: KubeResource] = {
        let list = [
            KubeResource(kind: "Event", groupVersion: "v1", plural: "events", namespaced: true),
            KubeResource(kind: "Pod", groupVersion: "v1", plural: "pods", namespaced: true),
            KubeResource(kind: "Service", groupVersion: "v1", plural: "services", namespaced: true),
            KubeResource(kind: "ConfigMap", groupVersion: "v1", plural: "configmaps", namespaced: true),
            KubeResource(kind: "Secret", groupVersion: "v1", plural: "secrets", namespaced: true),
            KubeResource(kind: "ServiceAccount", groupVersion: "v1", plural: "serviceaccounts", namespaced: true),
            KubeResource(kind: "Endpoints", groupVersion: "v1", plural: "endpoints", namespaced: true),
            KubeResource(kind: "Node", groupVersion: "v1", plural: "nodes", namespaced: false),
            KubeResource(kind: "Namespace", groupVersion: "v1", plural: "namespaces", namespaced: false),
            KubeResource(kind: "Deployment", groupVersion: "apps/v1", plural: "deployments", namespaced: true),
            KubeResource(kind: "ReplicaSet", groupVersion: "apps/v1", plural: "replicasets", namespaced: true),
            KubeResource(kind: "StatefulSet", groupVersion: "apps/v1", plural: "statefulsets", namespaced: true),
            KubeResource(kind: "DaemonSet", groupVersion: "apps/v1", plural: "daemonsets", namespaced: true),
            KubeResource(kind: "Job", groupVersion: "batch/v1", plural: "jobs", namespaced: true),
            KubeResource(kind: "Ingress", groupVersion: "networking.k8s.io/v1", plural: "ingresses", namespaced: true),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.kind, $0) })
    }()

    /// A built-in kind by name, case-insensitively (`pod`, `Pod`, `pods`).
    public static func named(_ name: String) -> KubeResource? {
        let lowered = name.lowercased()
        return known.values.first { $0.kind.lowercased() == lowered || $0.plural == lowered }
    }
}
