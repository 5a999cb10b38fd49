import BCSKube

/// What one capture last handed to the shipper, per object: its resourceVersion (and, for Nodes,
/// the object, to recognise heartbeat-only updates).
///
/// The reconciler compares it with what storage holds; a relist after `410 Gone` compares it
/// with the fresh list to find objects deleted while the watch was away. It holds versions, not
/// objects (Nodes excepted), so it stays small however large the cluster's objects are.
public actor ObjectIndex {
    /// `namespace/name` → resourceVersion.
    private var versions: [String: String] = [:]
    private var nodes: [String: JSONValue] = [:]

    public init() {}

    public static func key(namespace: String, name: String) -> String { namespace + "/" + name }

    public func version(of key: String) -> String? { versions[key] }

    public func lastNode(_ key: String) -> JSONValue? { nodes[key] }

    public func record(_ key: String, version: String, node: JSONValue? = nil) {
        versions[key] = version
        if let node { nodes[key] = node }
    }

    public func remove(_ key: String) {
        versions[key] = nil
        nodes[key] = nil
    }

    /// Keys recorded but absent from `seen` (deleted while nobody watched).
    public func keys(notIn seen: Set<String>) -> [String] {
        versions.keys.filter { !seen.contains($0) }
    }

    public func snapshot() -> [String: String] { versions }

    public var count: Int { versions.count }
}
