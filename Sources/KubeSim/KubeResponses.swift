import BCSMongo
import Hummingbird
import NIOCore

/// Builds the simulator's HTTP responses: JSON bodies and Status errors.
enum KubeResponses {
    static func json(_ document: BSONDocument, status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        var buffer = ByteBuffer(string: JSONText.render(document))
        buffer.writeString("\n")
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }

    static func error(_ status: KubeStatus) -> Response {
        var response = json(status.document, status: HTTPResponse.Status(code: status.code))
        if status.code == 401 { response.headers[.wwwAuthenticate] = "Bearer realm=\"kube-sim\"" }
        return response
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
