import AsyncHTTPClient
import BCSCore
import BCSTunnel
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
/// bodies stream through without buffering (a watch is relayed chunk by chunk). Upgrade requests
/// (exec, attach, port-forward) are relayed byte for byte after the apiserver's 101
/// (`KubeProxy+Upgrade.swift`). Errors are Kubernetes `Status` objects.
struct KubeProxy: Sendable {
    let registry: ClusterRegistry
    let tunnels: TunnelPool
    let tunnelHealth: TunnelHealth
    let audit: AuditLog
    /// Takes (and caches) access decisions; shared with the event-loop fast path, which only reads it.
    let decisions: DecisionCache
    /// Forward non-admin users with `Impersonate-User`/`Impersonate-Group` so the cluster's RBAC applies.
    let impersonate: Bool
    /// Where other replicas' tunnels are (nil: a single gateway, or replication not configured).
    let directory: TunnelDirectory?
    /// The links to other replicas and their shared secret (nil: not configured).
    let peers: PeerLinks?

    /// Hop-by-hop headers (RFC 9110 §7.6.1) and the caller's credentials never travel upstream.
    static let droppedRequestHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "authorization",
        "proxy-authorization", "impersonate-user", "impersonate-group", "impersonate-uid", PeerLinks.secretHeader, PeerLinks.fromHeader,
    ]
    static let droppedResponseHeaders: Set<String> = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]
    /// The group every impersonated BCS user is forwarded with (besides `system:authenticated`).
    static let impersonationGroup = "bcs:users"

    /// A request on its way to a cluster, once its path has been checked.
    struct Target {
        let clusterID: String
        /// The path below the cluster prefix, starting with `/` (or empty).
        let subPath: String
        let query: String?
        var upstreamURI: String { (subPath.isEmpty ? "/" : subPath) + (query.map { "?\($0)" } ?? "") }
    }

    /// Who is asking, as the access decision established.
    struct Caller {
        let user: String
        let admin: Bool
    }

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
        let started = ContinuousClock.now
        let target = try Self.target(of: request, context: context, prefix: prefix)
        let upgrade = Self.isUpgrade(request.headers)
        let fromPeer = try checkPeer(request)
        let caller = try await authorize(request, target: target, action: Self.permissionAction(request.method, subPath: target.subPath, upgrade: upgrade), started: started)
        // A live agent tunnel wins: the agent reaches its apiserver when the gateway cannot.
        if let session = tunnels.session(for: target.clusterID) {
            do {
                return try await proxyThroughTunnel(request, context: context, target: target, caller: caller, session: session, upgrade: upgrade, started: started)
            } catch TunnelError.sessionDraining {
                // Chosen just before its agent's GOAWAY arrived: nothing was sent, so once more on
                // another session (the pool no longer offers this one), or as if there were none.
                if let other = tunnels.session(for: target.clusterID) {
                    return try await proxyThroughTunnel(request, context: context, target: target, caller: caller, session: other, upgrade: upgrade, started: started)
                }
                throw KubeStatus.unavailable("cluster \(target.clusterID): its agent is retiring the tunnel session; retry")
            }
        }
        // Another replica's tunnel wins too; a request a peer forwarded is never forwarded again.
        if !fromPeer, let directory, let owner = await directory.owner(of: target.clusterID) {
            return try await proxyToPeer(request, context: context, target: target, caller: caller, owner: owner, upgrade: upgrade, started: started)
        }
        guard let cluster = await registry.actor(for: target.clusterID) else {
            if fromPeer {
                throw KubeStatus.unavailable("cluster \(target.clusterID): its agent tunnel is no longer on this gateway replica; retry")
            }
            if tunnelHealth.hadTunnel(target.clusterID) {
                throw KubeStatus.unavailable("cluster \(target.clusterID): its agent tunnel is down and it reported no direct credentials")
            }
            throw KubeStatus.notFound("cluster \(target.clusterID) has no reported credentials (is its kube-agent running?)")
        }
        if upgrade {
            return try await proxyUpgrade(request, context: context, target: target, caller: caller, cluster: cluster, started: started)
        }
        let upstream = try await cluster.upstream()
        guard !upstream.addresses.isEmpty else { throw KubeStatus.badGateway("cluster \(target.clusterID) reported no apiserver address") }
        // A request with a body may have reached the first address before failing, so only
        // body-less requests fail over.
        let hasBody = Self.hasBody(request)
        let body = hasBody ? try await Self.wholeBody(of: request) : nil
        let candidates = hasBody ? [upstream.addresses[0]] : upstream.addresses
        var failures: [String] = []
        for address in candidates {
            var outbound = HTTPClientRequest(url: address.trimmingSlash + target.upstreamURI)
            outbound.method = HTTPMethod(rawValue: request.method.rawValue)
            for field in request.headers where !Self.droppedRequestHeaders.contains(field.name.canonicalName) {
                outbound.headers.add(name: field.name.rawName, value: field.value)
            }
            outbound.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(upstream.token)")
            addIdentity(of: caller, from: request.headers, to: &outbound.headers)
            if let body {
                outbound.headers.remove(name: "Content-Length")
                outbound.body = .bytes(body)
            }
            let response: HTTPClientResponse
            do {
                response = try await upstream.lease.client.execute(outbound, timeout: .seconds(30))
            } catch {
                failures.append("\(address): \(error)")
                continue
            }
            if address != upstream.addresses[0] { await cluster.markGood(address) }
            return try await relay(response, lease: upstream.lease, request: request, context: context, target: target, caller: caller, started: started)
        }
        audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath, status: 502, bytes: 0, started: started)
        throw KubeStatus.badGateway("cluster \(target.clusterID): no apiserver address could be reached (\(failures.joined(separator: "; ")))")
    }

    /// The cluster and the path below its prefix; a path that tries to leave the prefix is refused.
    static func target(of request: Request, context: BCSRequestContext, prefix: String) throws -> Target {
        guard let clusterID = context.parameters.get("cluster_id"), !clusterID.isEmpty else { throw KubeStatus.badRequest("no cluster id in the path") }
        let path = request.uri.path
        let subPath = String(path.dropFirst(prefix.count + clusterID.count))
        if leavesPrefix(subPath) { throw KubeStatus.badRequest("the path may not leave \(prefix)\(clusterID)/") }
        return Target(clusterID: clusterID, subPath: subPath, query: request.uri.query)
    }

    /// Whether a path below a cluster's prefix tries to climb out of it (`..`, `.`, encoded slashes,
    /// dots, backslashes or percent signs).
    static func leavesPrefix(_ subPath: String) -> Bool {
        // One pass over the bytes: this runs for every proxied request.
        var segmentBytes = 0
        var segmentDots = 0
        var before: (UInt8, UInt8) = (0, 0)
        for byte in subPath.utf8 {
            if byte == UInt8(ascii: "/") {
                if segmentBytes > 0, segmentBytes == segmentDots, segmentDots <= 2 { return true }
                segmentBytes = 0
                segmentDots = 0
            } else {
                if byte == UInt8(ascii: "\\") { return true }
                segmentBytes += 1
                if byte == UInt8(ascii: ".") { segmentDots += 1 }
            }
            // %2e %2f %5c %25 in either case: an encoded dot, slash, backslash or percent sign.
            if before.0 == UInt8(ascii: "%") {
                let (high, low) = (before.1, byte | 0x20)
                if (high == UInt8(ascii: "2") && (low == UInt8(ascii: "e") || low == UInt8(ascii: "f") || low == UInt8(ascii: "5")))
                    || (high == UInt8(ascii: "5") && low == UInt8(ascii: "c")) {
                    return true
                }
            }
            before = (before.1, byte)
        }
        return segmentBytes > 0 && segmentBytes == segmentDots && segmentDots <= 2
    }

    /// Whether a request carries a body to stream: POST/PUT/PATCH, or any request announcing one
    /// (kubectl's DELETE sends `DeleteOptions`).
    static func hasBody(_ request: Request) -> Bool {
        if [.post, .put, .patch].contains(request.method) { return true }
        if let length = request.headers[.contentLength].flatMap(Int.init) { return length > 0 }
        return request.headers[.transferEncoding] != nil
    }

    /// The largest request body forwarded to a cluster; kube-apiserver itself refuses over 3 MiB.
    static let requestBodyLimit = 8 << 20

    /// A request's body, read whole before it is forwarded over HTTP.
    ///
    /// Not streamed: an apiserver may answer before it has read the body, and the server then
    /// drains the client's body stream while the HTTP client would still be reading it — two
    /// readers of one stream, which stopped the process (a slow `POST` answered early was enough).
    /// Request bodies are Kubernetes objects, so holding one costs little.
    static func wholeBody(of request: Request) async throws -> ByteBuffer {
        try await BCSBody.collect(request, limit: requestBodyLimit) { KubeStatus.tooLarge("\($0) of the gateway") }
    }

    /// Whether the response stays open for a long time: a watch or a followed log.
    static func isStreaming(query: String?) -> Bool {
        guard let query else { return false }
        return query.split(separator: "&").contains { item in
            let pair = item.split(separator: "=", maxSplits: 1)
            guard let name = pair.first, name == "watch" || name == "follow" else { return false }
            let value = pair.count > 1 ? pair[1].lowercased() : "true"
            return value == "1" || value == "true"
        }
    }

    /// Whether the request asks to switch protocols (`Connection: Upgrade` with an `Upgrade` header).
    static func isUpgrade(_ headers: HTTPFields) -> Bool {
        guard headers[.upgrade] != nil else { return false }
        return headers[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "upgrade" }
        }
    }

    /// The verb a permission is checked for: an exec, attach or port-forward is a `create` (POST)
    /// whatever method carries it (WebSocket upgrades arrive as GET).
    static func permissionAction(_ method: HTTPRequest.Method, subPath: String, upgrade: Bool) -> String {
        if upgrade { return "POST" }
        let last = subPath.lastIndex(of: "/").map { subPath[subPath.index(after: $0)...] } ?? subPath[...]
        if last == "exec" || last == "attach" || last == "portforward" || last == "proxy",
           subPath.contains("/pods/") || subPath.contains("/services/") || subPath.contains("/nodes/") {
            return "POST"
        }
        return method.rawValue
    }

    /// Authenticates the bearer token and checks the permission; refusals are audited and thrown as `Status`.
    func authorize(_ request: Request, target: Target, action: String, started: ContinuousClock.Instant) async throws -> Caller {
        let decision = try await decisions.decision(token: request.bearerToken, cluster: target.clusterID, verb: action)
        switch decision {
        case .unauthenticated(let why):
            audit.record(user: "-", cluster: target.clusterID, verb: action, path: target.subPath, status: 401, bytes: 0, started: started)
            throw KubeStatus.unauthorized(why)
        case .forbidden(let why):
            audit.record(user: "-", cluster: target.clusterID, verb: action, path: target.subPath, status: 403, bytes: 0, started: started)
            throw KubeStatus.forbidden(why)
        case .allowed(let name, let admin):
            if !admin, request.headers.contains(where: { $0.name.canonicalName.hasPrefix("impersonate-") }) {
                audit.record(user: name, cluster: target.clusterID, verb: action, path: target.subPath, status: 403, bytes: 0, started: started)
                throw KubeStatus.forbidden("user \(name) may not impersonate other users through the gateway (Impersonate-* headers need an admin token)")
            }
            return Caller(user: name, admin: admin)
        }
    }

    /// Admins keep their own `Impersonate-*` headers (kubectl `--as`); with `--impersonate`, other
    /// users are forwarded as themselves so the cluster's RBAC decides.
    func identityHeaders(of caller: Caller, from headers: HTTPFields) -> [(String, String)] {
        Self.identityHeaders(of: caller, from: headers, impersonate: impersonate)
    }

    static func identityHeaders(of caller: Caller, from headers: HTTPFields, impersonate: Bool) -> [(String, String)] {
        if caller.admin {
            // The ones the forwarded headers left out (`Impersonate-Extra-*` pass with them already).
            return headers.filter { droppedRequestHeaders.contains($0.name.canonicalName) && $0.name.canonicalName.hasPrefix("impersonate-") }
                .map { ($0.name.rawName, $0.value) }
        } else if impersonate {
            return [("Impersonate-User", Self.impersonatedName(caller.user)), ("Impersonate-Group", Self.impersonationGroup),
                    ("Impersonate-Group", "system:authenticated")]
        }
        return []
    }

    func addIdentity(of caller: Caller, from headers: HTTPFields, to outbound: inout HTTPHeaders) {
        for (name, value) in identityHeaders(of: caller, from: headers) { outbound.add(name: name, value: value) }
    }

    /// BCS forwards the user name with its first `:` replaced by `.` (so no name poses as `system:…`).
    static func impersonatedName(_ user: String) -> String {
        guard let colon = user.firstIndex(of: ":") else { return user }
        var name = user
        name.replaceSubrange(colon...colon, with: ".")
        return name
    }

    /// Answers with an upstream's response (an apiserver's, or a peer replica's): small answers of
    /// known length whole, others streamed, watches ended when their client goes away.
    func relay(
        _ response: HTTPClientResponse, lease: UpstreamLease, request: Request, context: BCSRequestContext, target: Target, caller: Caller,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        let (audit, verb, status, clusterID, path) = (self.audit, request.method.rawValue, Int(response.status.code), target.clusterID, target.subPath)
        let streaming = Self.isStreaming(query: target.query)
        if !streaming, let length = response.headers.first(name: "content-length").flatMap(Int.init), length <= Self.bufferedResponseLimit {
            // A small answer of known size goes out in one write with its head, instead of a
            // head, a body part and an end, each a write and a wake-up of the connection's loop.
            let body = try await response.body.collect(upTo: Self.bufferedResponseLimit)
            lease.release()
            audit.record(user: caller.user, cluster: clusterID, verb: verb, path: path, status: status, bytes: body.readableBytes, started: started)
            return Response(status: .init(code: status), headers: Self.relayedHeaders(response.headers), body: ResponseBody(byteBuffer: body))
        }
        let watcher = streaming ? context.channel : nil
        let body = audit.counting(response.body) { bytes in
            lease.release()
            audit.record(user: caller.user, cluster: clusterID, verb: verb, path: path, status: status, bytes: bytes, started: started)
        }
        return Response(status: .init(code: status), headers: Self.relayedHeaders(response.headers), body: Self.responseBody(body, cancelOnDisconnectOf: watcher))
    }

    /// Responses of at most this many bytes with a known length are read whole, then answered in one write.
    static let bufferedResponseLimit = 256 << 10

    /// What the gateway answers as `Server` on every path (Hummingbird's setting on the ordinary
    /// path): the apiserver's own `Server` is replaced, as nginx does, so the two paths look alike.
    static let serverName = "bcs/\(BCSVersion.current)"

    /// Whether an apiserver's response header is not relayed: one of `droppedResponseHeaders` or
    /// `Server` (replaced), in any case, without lowercasing every name of every answer (only names
    /// of those lengths are compared).
    static func isReplacedResponseHeader(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2, 7, 10, 16, 17: return droppedResponseHeaders.contains(name.lowercased())
        case 6: return name.lowercased() == "server"
        default: return false
        }
    }

    /// The upstream's response headers minus hop-by-hop ones, with the gateway's `Server`.
    static func relayedHeaders(_ upstream: HTTPHeaders) -> HTTPFields {
        var headers = HTTPFields()
        headers.reserveCapacity(upstream.count + 1)
        for (name, value) in upstream where !isReplacedResponseHeader(name) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        headers.append(HTTPField(name: .server, value: serverName))
        return headers
    }

    /// The upstream's response headers minus hop-by-hop ones, with the gateway's `Server`, kept as HTTP/1 headers.
    static func relayedHeaders(http1 upstream: HTTPHeaders) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(upstream.count + 1)
        for (name, value) in upstream where !isReplacedResponseHeader(name) {
            headers.add(name: name, value: value)
        }
        headers.add(name: "Server", value: serverName)
        return headers
    }

    /// The body to answer with; a long-lived one (`channel` given) ends when that client connection closes.
    static func responseBody<Body: AsyncSequence & Sendable>(_ body: Body, cancelOnDisconnectOf channel: (any Channel)?) -> ResponseBody where Body.Element == ByteBuffer {
        guard let channel else { return ResponseBody(asyncSequence: body) }
        return ResponseBody(asyncSequence: DisconnectCancellingBody(base: body, channel: channel))
    }
}
