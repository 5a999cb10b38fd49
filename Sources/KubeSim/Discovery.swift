import BCSMongo

/// The legacy discovery documents: `/api`, `/apis`, `/api/v1`, `/apis/apps/v1`.
///
/// kubectl 1.27+ asks for aggregated discovery first but accepts these in any version when the
/// reply is labelled plain `application/json` (kubectl-wire.md §1.3), then fetches each group-version.
enum Discovery {
    static func apiVersions(serverAddress: String) -> BSONDocument {
        ["kind": "APIVersions", "versions": ["v1"],
         "serverAddressByClientCIDRs": [.document(["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)])]]
    }

    static func apiGroupList() -> BSONDocument {
        let gv: BSON = .document(["groupVersion": "apps/v1", "version": "v1"])
        return ["kind": "APIGroupList", "apiVersion": "v1",
                "groups": [.document(["name": "apps", "versions": [gv], "preferredVersion": gv])]]
    }

    static func resourceList(groupVersion: String) -> BSONDocument? {
        let types = ResourceCatalog.resources(in: groupVersion)
        guard !types.isEmpty else { return nil }
        var resources: [BSON] = []
        for type in types {
            var entry: BSONDocument = [
                "name": .string(type.name), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(ResourceCatalog.verbs.map { .string($0) }),
            ]
            if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map { .string($0) }) }
            if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map { .string($0) }) }
            resources.append(.document(entry))
            for sub in ResourceCatalog.subresources where sub.parent == type.name {
                var subEntry: BSONDocument = [
                    "name": .string("\(type.name)/\(sub.name)"), "singularName": "", "namespaced": .bool(type.namespaced),
                    "kind": .string(sub.kind), "verbs": .array(sub.verbs.map { .string($0) }),
                ]
                if let group = sub.group { subEntry["group"] = .string(group) }
                if let version = sub.version { subEntry["version"] = .string(version) }
                resources.append(.document(subEntry))
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(groupVersion), "resources": .array(resources)]
    }
}
