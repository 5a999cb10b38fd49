import BCSMongo
import Hummingbird

/// `deployments/{name}/scale`: the `autoscaling/v1` Scale view `kubectl scale` reads and patches.
struct ScaleSubresource {
    let store: ObjectStore
    let namespace: String
    private static let deployments = ResourceCatalog.find(groupVersion: "apps/v1", name: "deployments")!

    func handle(_ request: Request, name: String) async throws -> Response {
        switch request.method {
        case .get:
            return KubeResponses.json(Self.scale(of: try await store.get(Self.deployments, namespace: namespace, name: name)))
        case .patch, .put:
            let body = try await ResourceHandler.readJSON(request)
            let isPut = request.method == .put
            let updated = try await store.modify(Self.deployments, namespace: namespace, name: name) { current throws(KubeStatus) in
                var scale = Self.scale(of: current)
                if isPut {
                    scale = body.doc
                    if let given = scale.string("metadata", "resourceVersion"), given != current.string("metadata", "resourceVersion") {
                        throw KubeStatus.conflict("deployments.apps", name)
                    }
                } else {
                    scale = MergePatch.merge(.document(scale), body, strategic: false)?.documentValue ?? scale
                }
                guard let replicas = scale["spec"]?.doc["replicas"]?.intValue, replicas >= 0 else {
                    throw KubeStatus.invalid(kind: "Scale", name: name, field: "spec.replicas", message: "Invalid value: must be greater than or equal to 0")
                }
                var next = current
                next.set(["spec", "replicas"], .int64(Int64(replicas)))
                return next
            }
            return KubeResponses.json(Self.scale(of: updated))
        default:
            throw KubeStatus.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    static func scale(of deployment: BSONDocument) -> BSONDocument {
        var metadata = BSONDocument()
        for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] { metadata[key] = deployment["metadata"]?.doc[key] }
        let selector = (deployment["spec"]?.doc["selector"]?.doc["matchLabels"]?.doc.elements ?? []).map { "\($0.key)=\($0.value.stringValue ?? "")" }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .document(metadata),
                "spec": .document(["replicas": .int64(Int64(deployment["spec"]?.doc["replicas"]?.intValue ?? 0))]),
                "status": .document(["replicas": .int64(Int64(deployment["status"]?.doc["replicas"]?.intValue ?? 0)),
                                     "selector": .string(selector.joined(separator: ","))])]
    }
}
