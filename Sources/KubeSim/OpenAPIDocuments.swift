import BCSMongo

/// OpenAPI v3 documents just rich enough for kubectl's validation and server-side field validation.
///
/// With `--validate=strict` kubectl fetches `/openapi/v3` before anything else and refuses to send
/// a `create -f`/`apply` without it. It then uses server-side field validation when the
/// group-version document has, for the object's kind, a `patch` operation tagged with
/// `x-kubernetes-group-version-kind` and a `fieldValidation` parameter (kubectl-wire.md §2.2).
/// v2 is `OpenAPIV2Document`.
enum OpenAPIDocuments {
    static func hash(_ groupVersion: String) -> String { groupVersion == "v1" ? "kubesimcorev1" : "kubesimappsv1" }

    static func index() -> BSONDocument {
        ["paths": .document([
            "api/v1": .document(["serverRelativeURL": .string("/openapi/v3/api/v1?hash=\(hash("v1"))")]),
            "apis/apps/v1": .document(["serverRelativeURL": .string("/openapi/v3/apis/apps/v1?hash=\(hash("apps/v1"))")]),
        ])]
    }

    static func groupVersion(_ groupVersion: String) -> BSONDocument? {
        let types = ResourceCatalog.resources(in: groupVersion)
        guard !types.isEmpty else { return nil }
        var paths = BSONDocument()
        let prefix = groupVersion == "v1" ? "/api/v1" : "/apis/\(groupVersion)"
        for type in types {
            let gvk: BSON = .document(["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)])
            let parameters: BSON = [
                .document(["name": "fieldValidation", "in": "query", "schema": .document(["type": "string"])]),
                .document(["name": "fieldManager", "in": "query", "schema": .document(["type": "string"])]),
                .document(["name": "dryRun", "in": "query", "schema": .document(["type": "string"])]),
            ]
            let operation: BSON = .document([
                "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": parameters,
                "responses": .document(["200": .document(["description": "OK"])]),
            ])
            let post: BSON = .document([
                "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "post", "parameters": parameters,
                "responses": .document(["201": .document(["description": "Created"])]),
            ])
            let item = type.namespaced ? "\(prefix)/namespaces/{namespace}/\(type.name)/{name}" : "\(prefix)/\(type.name)/{name}"
            let collection = type.namespaced ? "\(prefix)/namespaces/{namespace}/\(type.name)" : "\(prefix)/\(type.name)"
            paths[item] = .document(["patch": operation, "put": operation])
            paths[collection] = .document(["post": post])
        }
        return ["openapi": "3.0.0", "info": .document(["title": "Kubernetes", "version": .string(KubeSimVersion.gitVersion)]),
                "paths": .document(paths), "components": .document(["schemas": .document([:])])]
    }
}
