import BCSMongo

/// What a fresh cluster already holds: its system namespaces and one ready node.
enum SeedObjects {
    static func seed(_ store: ObjectStore) async {
        let namespaces = ResourceCatalog.find(groupVersion: "v1", name: "namespaces")!
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? await store.create(namespaces, namespace: "", object: ["apiVersion": "v1", "kind": "Namespace", "metadata": .document(["name": .string(name)])])
        }
        let nodes = ResourceCatalog.find(groupVersion: "v1", name: "nodes")!
        _ = try? await store.create(nodes, namespace: "", object: [
            "apiVersion": "v1", "kind": "Node",
            "metadata": .document(["name": .string(Simulation.nodeName), "labels": .document(["kubernetes.io/hostname": .string(Simulation.nodeName)])]),
        ])
    }
}
