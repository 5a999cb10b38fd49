import AsyncHTTPClient
import BCSCore
import BCSUserManager
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import HTTPTypes

/// `/tunnels/clusters/{cluster_id}/{path}` (and `/clusters/{cluster_id}/{path}`) to the cluster's apiserver.
///
/// Each request is authorised for its cluster and verb before it leaves; the caller's
/// `Authorization` is replaced by the cluster's service-account token; request and response
/// bodies stream through without buffering (a watch is relayed chunk by chunk). Errors are
/// Kubernetes `Status` objects.
struct KubeProxy: Sendable {
    let registry: ClusterRegistry
    let access: AccessControl?
    let audit = AuditLog()
    let decisions = DecisionCache()

    /// Hop-by-hop headers (RFC 9110 §7.6.1) and the caller's credentials never travel upstream.
    static let droppedRequestHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "authorization",
        "proxy-authorization", "impersonate-user", "impersonate-group", "impersonate-uid",
    ]
    static let droppedResponseHeaders: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]

    func addRoutes(to router: Router<BCSRequestContext>) {
        for prefix in ["tunnels/clusters", "clusters"] {
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .head, .options] {
                router.on(RouterPath("\(prefix)/{cluster_id}/**"), method: method) { request, context in
                    try await proxy(request, context: context, prefix: "/\(prefix)/")
                }
            }
        }
    }

    func proxy(_ request: Request, context: BCSRequestContext, prefix: String) async throws -> Response {
        guard let clusterID = context.parameters.get("cluster_id"), !clusterID.isEmpty else { throw KubeStatus.badRequest("no cluster id in the path") }
        let path = request.uri.path
        let subPath = String(path.dropFirst(prefix.count + clusterID.count))
        let segments = subPath.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0 == ".." || $0 == "." || $0.lowercased().contains("%2e%2e") || $0.contains("%2f") || $0.contains("%2F") }) {
            throw KubeStatus.badRequest("the path may not leave /\(prefix)\(clusterID)/")
        }
        guard let access else {
            throw KubeStatus.unavailable("this gateway authorises requests with a co-hosted usermanager role; run --roles gateway,usermanager")
        }
        let token = request.bearerToken
        let started = ContinuousClock.now
        let user: String
        let verb = request.method.rawValue
        let decision = try await decisions.decision(token: token, cluster: clusterID, verb: verb) {
            try await access.decide(token: token, resourceType: "cluster", resource: clusterID, action: verb)
        }
        switch decision {
        case .unauthenticated(let why):
            audit.record(user: "-", cluster: clusterID, verb: request.method.rawValue, path: subPath, status: 401, bytes: 0, started: started)
            throw KubeStatus.unauthorized(why)
        case .forbidden(let why):
            audit.record(user: "-", cluster: clusterID, verb: request.method.rawValue, path: subPath, status: 403, bytes: 0, started: started)
            throw KubeStatus.forbidden(why)
        case .allowed(let name): user = name
        }
        guard let cluster = await registry.actor(for: clusterID) else {
            throw KubeStatus.notFound("cluster \(clusterID) has no reported credentials (is its kube-agent running?)")
        }
        let upstream = try await cluster.upstream()
        guard !upstream.addresses.isEmpty else { throw KubeStatus.badGateway("cluster \(clusterID) reported no apiserver address") }
        // A request with a body streams it once, so only body-less requests can fail over.
        let hasBody = request.method != .get && request.method != .head && request.method != .options && request.method != .delete
        let candidates = hasBody ? [upstream.addresses[0]] : upstream.addresses
        var failures: [String] = []
        for address in candidates {
            var outbound = HTTPClientRequest(url: address.trimmingSlash + (subPath.isEmpty ? "/" : subPath) + (request.uri.query.map { "?\($0)" } ?? ""))
            outbound.method = HTTPMethod(rawValue: request.method.rawValue)
            for field in request.headers where !Self.droppedRequestHeaders.contains(field.name.canonicalName) {
                outbound.headers.add(name: field.name.rawName, value: field.value)
            }
            outbound.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(upstream.token)")
            if hasBody {
                let length = request.headers[.contentLength].flatMap(Int.init)
                outbound.body = .stream(request.body, length: length.map { .known(Int64($0)) } ?? .unknown)
            }
            let response: HTTPClientResponse
            do {
                response = try await upstream.client.execute(outbound, timeout: .seconds(30))
            } catch {
                failures.append("\(address): \(error)")
                continue
            }
            if address != upstream.addresses[0] { await cluster.markGood(address) }
            let (audit, verb, status) = (self.audit, request.method.rawValue, Int(response.status.code))
            return Self.relay(response) { body in
                audit.counting(body) { bytes in
                    audit.record(user: user, cluster: clusterID, verb: verb, path: subPath, status: status, bytes: bytes, started: started)
                }
            }
        }
        audit.record(user: user, cluster: clusterID, verb: request.method.rawValue, path: subPath, status: 502, bytes: 0, started: started)
        throw KubeStatus.badGateway("cluster \(clusterID): no apiserver address could be reached (\(failures.joined(separator: "; ")))")
    }

    private static func relay<Body: AsyncSequence & Sendable>(
        _ response: HTTPClientResponse, wrap: (HTTPClientResponse.Body) -> Body
    ) -> Response where Body.Element == ByteBuffer {
        var headers = HTTPFields()
        for (name, value) in response.headers where !droppedResponseHeaders.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: ResponseBody(asyncSequence: wrap(response.body)))
    }
}

