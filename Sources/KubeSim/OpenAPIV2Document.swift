import BCSMongo

/// `/openapi/v2` as JSON (Swagger 2.0): a path per kind with its GVK-tagged operations, and a definition per kind.
///
/// kubectl itself asks only for the protobuf form (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`)
/// and decodes the body as protobuf whatever its Content-Type, so a JSON reply to that Accept would
/// break `apply`; such a request gets 406, which client-go treats like the 404 it tolerates
/// (kubectl-wire.md §2.2–§2.3): `apply` then computes patches from its compiled-in types, and
/// validation uses the v3 documents. Clients that accept JSON (`kubectl get --raw`, curl, other
/// tooling) get the document.
enum OpenAPIV2Document {
    /// Whether the Accept header allows the JSON form.
    static func acceptsJSON(_ accept: String?) -> Bool {
        guard let accept, !accept.isEmpty else { return true }
        return accept.contains("application/json") || accept.contains("*/*")
    }

    static func definitionName(_ type: ResourceType) -> String {
        "io.k8s.api.\(type.group.isEmpty ? "core" : type.group).\(type.version).\(type.kind)"
    }

    static func document() -> BSONDocument {
        var paths = BSONDocument()
        var definitions = BSONDocument()
        for type in ResourceCatalog.all {
            let gvk: BSON = .document(["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)])
            let reference: BSON = .document(["$ref": .string("#/definitions/\(definitionName(type))")])
            let query = { (name: String) -> BSON in .document(["name": .string(name), "in": "query", "type": "string", "uniqueItems": true]) }
            func operation(_ action: String, _ code: String, body: Bool) -> BSON {
                var parameters: [BSON] = [query("dryRun"), query("fieldManager"), query("fieldValidation")]
                if body { parameters.insert(.document(["name": "body", "in": "body", "required": true, "schema": reference]), at: 0) }
                return .document([
                    "operationId": .string("\(action)\(type.kind)"), "x-kubernetes-action": .string(action), "x-kubernetes-group-version-kind": gvk,
                    "consumes": ["*/*"], "produces": ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
                    "parameters": .array(parameters),
                    "responses": .document([code: .document(["description": "OK", "schema": reference])]),
                ])
            }
            let prefix = type.group.isEmpty ? "/api/\(type.version)" : "/apis/\(type.groupVersion)"
            let collection = type.namespaced ? "\(prefix)/namespaces/{namespace}/\(type.name)" : "\(prefix)/\(type.name)"
            paths[collection] = .document(["post": operation("post", "201", body: true), "get": operation("list", "200", body: false)])
            paths[collection + "/{name}"] = .document([
                "get": operation("get", "200", body: false), "put": operation("put", "200", body: true),
                "patch": operation("patch", "200", body: true), "delete": operation("delete", "200", body: false),
            ])
            var properties: BSONDocument = [
                "apiVersion": .document(["type": "string"]), "kind": .document(["type": "string"]),
                "metadata": .document(["$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]),
            ]
            for field in fields(type.kind) { properties[field] = .document(["type": "object"]) }
            definitions[definitionName(type)] = .document([
                "description": .string("\(type.kind) as kube-sim stores it."), "type": "object", "properties": .document(properties),
                "x-kubernetes-group-version-kind": [gvk],
            ])
        }
        definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] = .document([
            "type": "object",
            "properties": .document([
                "name": .document(["type": "string"]), "namespace": .document(["type": "string"]), "generateName": .document(["type": "string"]),
                "labels": .document(["type": "object", "additionalProperties": .document(["type": "string"])]),
                "annotations": .document(["type": "object", "additionalProperties": .document(["type": "string"])]),
                "uid": .document(["type": "string"]), "resourceVersion": .document(["type": "string"]), "generation": .document(["type": "integer", "format": "int64"]),
                "creationTimestamp": .document(["type": "string", "format": "date-time"]),
            ]),
        ])
        return ["swagger": "2.0", "info": .document(["title": "Kubernetes", "version": .string(KubeSimVersion.gitVersion)]),
                "paths": .document(paths), "definitions": .document(definitions)]
    }

    private static func fields(_ kind: String) -> [String] {
        switch kind {
        case "ConfigMap": ["data", "binaryData"]
        case "Secret": ["data", "stringData"]
        case "ServiceAccount": []
        case "Event": ["involvedObject", "source"]
        default: ["spec", "status"]
        }
    }
}
