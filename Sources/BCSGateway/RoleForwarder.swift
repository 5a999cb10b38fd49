import AsyncHTTPClient
import BCSCore
import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTP1

/// `/bcsapi/v4/usermanager/…` and `/bcsapi/v4/storage/…` for roles running in other processes.
///
/// When a role shares this process, `APIPrefixResponder` answers these paths in place and this
/// never sees them. Otherwise the request is streamed to the role's base URL
/// (`--usermanager-url`, `--storage-url`) with its own `Authorization` — the role authenticates
/// the caller itself — and the answer streamed back. No URL configured, or the role unreachable,
/// answers 503 in BCS's envelope.
struct RoleForwarder: Sendable {
    struct Route: Sendable {
        /// The public prefix, e.g. `/bcsapi/v4/storage/`.
        let publicPrefix: String
        /// The role's own prefix on its server, e.g. `/bcsstorage/v1/`.
        let rolePrefix: String
        let baseURL: String?
        let setting: String
        let role: String
    }

    /// Answers for paths under a forwarded prefix that the gateway serves itself (kubeconfigs, the
    /// agent tunnel); each returns nil for a request that is not its own.
    typealias LocalAnswer = @Sendable (Request, BCSRequestContext) async throws -> Response?

    let routes: [Route]
    let client: HTTPClient
    var local: [LocalAnswer] = []

    /// The largest request body forwarded to a role (the storage role's batch limit).
    static let bodyLimit = 16 << 20

    static let dropped: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"]

    func addRoutes(to router: Router<BCSRequestContext>) {
        for route in routes {
            let path = RouterPath(String(route.publicPrefix.dropFirst()) + "**")
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .head] {
                router.on(path, method: method) { request, context in
                    for answer in local {
                        if let response = try await answer(request, context) { return response }
                    }
                    return try await forward(request, route: route)
                }
            }
        }
    }

    func forward(_ request: Request, route: Route) async throws -> Response {
        guard let base = route.baseURL else {
            throw BCSAPIError(.serviceUnavailable, code: 503, "the \(route.role) role does not run in this process; start the gateway with --\(route.setting)")
        }
        let path = request.uri.path
        guard path.hasPrefix(route.publicPrefix), !path.split(separator: "/").contains(where: { $0 == ".." || $0.lowercased().contains("%2e") || $0.lowercased().contains("%2f") }) else {
            throw BCSAPIError(.badRequest, code: 400, "invalid path")
        }
        var outbound = HTTPClientRequest(url: base.trimmingSlash + route.rolePrefix + path.dropFirst(route.publicPrefix.count) + (request.uri.query.map { "?\($0)" } ?? ""))
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.dropped.contains(field.name.canonicalName) {
            outbound.headers.add(name: field.name.rawName, value: field.value)
        }
        if request.method != .get && request.method != .head {
            // Read whole before forwarding, not streamed: the role may answer before reading the
            // body, and the server then drains the same body stream the client would still be
            // reading (a second reader of one stream stops the process). Bounded by the largest
            // body a role accepts (a storage batch).
            outbound.body = .bytes(try await BCSBody.collect(request, limit: Self.bodyLimit, code: 413))
        }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outbound, timeout: .seconds(30))
        } catch {
            throw BCSAPIError(.serviceUnavailable, code: 503, "the \(route.role) role at \(base) cannot be reached: \(error)")
        }
        var headers = HTTPFields()
        for (name, value) in response.headers where !Self.dropped.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: ResponseBody(asyncSequence: response.body))
    }
}
