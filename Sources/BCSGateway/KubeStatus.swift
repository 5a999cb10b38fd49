import BCSCore
import Foundation
import Hummingbird

/// Errors on the tunnel path as Kubernetes `Status` objects, which kubectl prints well.
struct KubeStatus: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let reason: String
    let message: String
    /// Seconds a client should wait before retrying: the `Retry-After` header and `details.retryAfterSeconds`, as the apiserver sends them.
    var retryAfterSeconds: Int? = nil

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: jsonBody()))
    }

    /// The `Status` object as JSON.
    func jsonBody() -> ByteBuffer {
        var object: [String: Any] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [String: Any](),
            "status": "Failure", "message": message, "reason": reason, "code": Int(status.code),
        ]
        if let retryAfterSeconds { object["details"] = ["retryAfterSeconds": retryAfterSeconds] }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return ByteBuffer(bytes: data)
    }

    static func unauthorized(_ message: String) -> KubeStatus { KubeStatus(status: .unauthorized, reason: "Unauthorized", message: message) }
    static func forbidden(_ message: String) -> KubeStatus { KubeStatus(status: .forbidden, reason: "Forbidden", message: message) }
    static func notFound(_ message: String) -> KubeStatus { KubeStatus(status: .notFound, reason: "NotFound", message: message) }
    static func badRequest(_ message: String) -> KubeStatus { KubeStatus(status: .badRequest, reason: "BadRequest", message: message) }
    static func unavailable(_ message: String) -> KubeStatus { KubeStatus(status: .serviceUnavailable, reason: "ServiceUnavailable", message: message) }
    static func gatewayTimeout(_ message: String) -> KubeStatus { KubeStatus(status: .gatewayTimeout, reason: "Timeout", message: message) }
    static func badGateway(_ message: String) -> KubeStatus { KubeStatus(status: .badGateway, reason: "InternalError", message: message) }
    static func tooLarge(_ message: String) -> KubeStatus { KubeStatus(status: .contentTooLarge, reason: "RequestEntityTooLarge", message: message) }
    static func tooManyRequests(_ message: String, retryAfterSeconds: Int = 1) -> KubeStatus {
        KubeStatus(status: .tooManyRequests, reason: "TooManyRequests", message: message, retryAfterSeconds: retryAfterSeconds)
    }
}
