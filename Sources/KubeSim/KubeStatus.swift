import BCSMongo
import HTTPTypes

/// A Kubernetes `Status` failure: the error body kubectl turns into `Error from server (Reason): message`.
struct KubeStatus: Error, Sendable {
    let code: Int
    let reason: String
    let message: String
    var details: BSONDocument?

    var document: BSONDocument {
        var doc: BSONDocument = [
            "kind": "Status", "apiVersion": "v1", "metadata": .document([:]), "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int64(Int64(code)),
        ]
        if let details { doc["details"] = .document(details) }
        return doc
    }

    static func notFound(_ resource: String, _ name: String, group: String = "") -> KubeStatus {
        let qualified = group.isEmpty ? resource : "\(resource).\(group)"
        return KubeStatus(code: 404, reason: "NotFound", message: "\(qualified) \"\(name)\" not found",
                          details: ["name": .string(name), "group": .string(group), "kind": .string(resource)])
    }

    static func alreadyExists(_ resource: String, _ name: String, group: String = "") -> KubeStatus {
        let qualified = group.isEmpty ? resource : "\(resource).\(group)"
        return KubeStatus(code: 409, reason: "AlreadyExists", message: "\(qualified) \"\(name)\" already exists",
                          details: ["name": .string(name), "group": .string(group), "kind": .string(resource)])
    }

    static func conflict(_ resource: String, _ name: String) -> KubeStatus {
        KubeStatus(code: 409, reason: "Conflict",
                   message: "Operation cannot be fulfilled on \(resource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                   details: ["name": .string(name), "kind": .string(resource)])
    }

    /// 422 with one cause; kubectl prints `The Kind "name" is invalid: field: message`.
    static func invalid(kind: String, name: String, field: String, message: String) -> KubeStatus {
        KubeStatus(code: 422, reason: "Invalid", message: "\(kind) \"\(name)\" is invalid: \(field): \(message)",
                   details: ["name": .string(name), "kind": .string(kind),
                             "causes": .array([.document(["reason": "FieldValueInvalid", "message": .string(message), "field": .string(field)])])])
    }

    static func unprocessable(_ message: String) -> KubeStatus { KubeStatus(code: 422, reason: "Invalid", message: message) }
    static func badRequest(_ message: String) -> KubeStatus { KubeStatus(code: 400, reason: "BadRequest", message: message) }
    static let unauthorized = KubeStatus(code: 401, reason: "Unauthorized", message: "Unauthorized")
    static func gone(_ message: String) -> KubeStatus { KubeStatus(code: 410, reason: "Expired", message: message) }
    static func methodNotAllowed(_ message: String) -> KubeStatus { KubeStatus(code: 405, reason: "MethodNotAllowed", message: message) }
    static func unsupportedMedia(_ type: String) -> KubeStatus {
        KubeStatus(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got \(type))")
    }
    static let pathNotFound = KubeStatus(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
}
