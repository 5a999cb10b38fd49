import Foundation
import BCSMongo

/// Aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1) for `/api` and `/apis`.
///
/// kubectl 1.30+ offers v2 then v2beta1, 1.27–1.29 only v2beta1. The response Content-Type picks
/// kubectl's decoder, so the version is chosen from the request's Accept list and echoed in the
/// Content-Type; a client that asks for neither gets the legacy documents (kubectl-wire.md §1.4).
enum AggregatedDiscovery {
    /// The aggregated version the Accept header asks for, if any, in the client's order.
    static func version(accept: String?) -> String? {
        guard let accept else { return nil }
        for range in accept.split(separator: ",") {
            let params = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard params.contains("g=apidiscovery.k8s.io"), params.contains("as=APIGroupDiscoveryList") else { continue }
            if params.contains("v=v2") { return "v2" }
            if params.contains("v=v2beta1") { return "v2beta1" }
        }
        return nil
    }

    static func contentType(_ version: String) -> String {
        "application/json;g=apidiscovery.k8s.io;v=\(version);as=APIGroupDiscoveryList"
    }

    /// The list for `/api` (core, `group` empty) or `/apis` (named groups).
    static func list(core: Bool, version: String) -> BSONDocument {
        let groups = core ? [""] : ["apps"]
        let items: [BSON] = groups.map { group in
            let groupVersion = group.isEmpty ? "v1" : "\(group)/v1"
            var metadata: BSONDocument = ["creationTimestamp": .null]
            if !group.isEmpty { metadata = ["name": .string(group), "creationTimestamp": .null] }
            let resources: [BSON] = ResourceCatalog.resources(in: groupVersion).map { type in
                var entry: BSONDocument = [
                    "resource": .string(type.name),
                    "responseKind": .document(["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)]),
                    "scope": .string(type.namespaced ? "Namespaced" : "Cluster"),
                    "singularResource": .string(type.singular),
                    "verbs": .array(ResourceCatalog.verbs.map { .string($0) }),
                ]
                if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map { .string($0) }) }
                if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map { .string($0) }) }
                let subresources: [BSON] = ResourceCatalog.subresources.filter { $0.parent == type.name }.map { sub in
                    .document([
                        "subresource": .string(sub.name),
                        "responseKind": .document(["group": .string(sub.group ?? type.group), "version": .string(sub.version ?? type.version),
                                                   "kind": .string(sub.kind)]),
                        "verbs": .array(sub.verbs.map { .string($0) }),
                    ])
                }
                if !subresources.isEmpty { entry["subresources"] = .array(subresources) }
                return .document(entry)
            }
            return .document(["metadata": .document(metadata),
                              "versions": [.document(["version": "v1", "freshness": "Current", "resources": .array(resources)])]])
        }
        return ["kind": "APIGroupDiscoveryList", "apiVersion": .string("apidiscovery.k8s.io/\(version)"),
                "metadata": .document([:]), "items": .array(items)]
    }
}
