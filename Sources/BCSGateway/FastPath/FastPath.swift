import BCSCore
import BCSKube
import BCSTunnel
import BCSUserManager
import HTTPTypes
import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP1

/// Decides, on the client connection's event loop, whether a request can be proxied there and then.
///
/// The ordinary proxy (`KubeProxy`) runs each request as a task: the request crosses from the
/// connection's event loop to Swift Concurrency's pool, to the upstream connection's loop and back,
/// four thread wake-ups per request, which capped the gateway at a third of nginx's rate. The fast
/// path takes the commonest request, a plain GET, whose every decision is already known without
/// waiting: the caller's access decision is cached (`DecisionCache`), and either the cluster has a
/// live agent tunnel here (the request becomes a stream of it, `TunnelRelayStream`) or it has none
/// here nor (as far as a fresh lookup knows) on another replica and its actor has published a
/// `DirectRoute`. Anything else — a first request of a token, a watch, a body, an upgrade, a peer
/// hop, a refusal — returns nil and takes the ordinary path, which also answers every error, so
/// both paths answer alike.
struct FastPath: Sendable {
    let decisions: DecisionCache
    let tunnels: TunnelPool
    let directory: TunnelDirectory?
    let routes: DirectRoutes
    /// False when the gateway has no access to the user-manager's data (the slow path explains).
    let authorises: Bool
    let impersonate: Bool
    let audit: AuditLog
    let connections: UpstreamConnectionPools
    let metrics = FastPathMetrics()

    /// A request the fast path will carry: where it goes and what to send.
    struct Plan {
        enum Target {
            /// To the apiserver over a pooled connection, with this head.
            case direct(DirectRoute, UpstreamHead)
            /// Through the agent tunnel, as a stream with this header block.
            case tunnel(TunnelSession, HPACKHeaders)
        }

        /// A head for the apiserver: in parts, or as wire bytes (whose answer then comes as wire
        /// bytes too, for an HTTP/1.1 client to take as they are).
        enum UpstreamHead {
            case parts(HTTPRequestHead)
            case wire(ByteBuffer)
        }

        let target: Target
        let clusterID: String
        let subPath: String
        let user: String
        let verb: String
        /// The router's name for the path, for the request metrics (`http.route`).
        let routeName: String
        let started: ContinuousClock.Instant
    }

    static let prefixes = ["/tunnels/clusters/", "/clusters/"]
    /// The router's names for the two prefixes' routes, made once.
    static let routeNames = prefixes.map { $0 + "{cluster_id}/**" }

    /// The plan for a request, or nil when it must take the ordinary path.
    ///
    /// Runs for every request on an event loop, so it scans bytes and reads the headers in one pass.
    func plan(_ request: HTTPRequest, loop: any EventLoop) -> Plan? {
        guard request.method == .get, authorises, let fullPath = request.path, let target = Self.target(fullPath) else { return nil }
        let headers = request.headerFields
        guard let authorization = Self.authorizationIfPlain(headers) else { return nil }
        let impersonating = headers.contains(where: { $0.name.canonicalName.hasPrefix("impersonate-") })
        guard let caller = allowedCaller(authorization: authorization, target: target, impersonating: impersonating) else { return nil }
        let identity = KubeProxy.identityHeaders(of: caller.caller, from: headers, impersonate: impersonate)
        // A live agent tunnel wins, as on the ordinary path.
        if let session = tunnels.session(for: target.clusterID, near: loop) {
            let head = KubeProxy.tunnelRequest(.get, path: target.upstreamURI, headers: headers, identity: identity, upgrade: false)
            return Plan(target: .tunnel(session, TunnelHeaders.requestBlock(head, upgrade: nil)), clusterID: target.clusterID, subPath: target.subPath,
                        user: caller.caller.user, verb: caller.verb, routeName: target.routeName, started: .now)
        }
        guard let route = directRoute(target.clusterID) else { return nil }

        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.upstreamURI)
        head.headers.reserveCapacity(headers.count + 3)
        head.headers.add(name: "Host", value: route.address.hostHeader)
        for field in headers where !KubeProxy.droppedRequestHeaders.contains(field.name.canonicalName) {
            head.headers.add(name: field.name.rawName, value: field.value)
        }
        head.headers.add(name: "Authorization", value: route.authorization)
        for (name, value) in identity { head.headers.add(name: name, value: value) }
        return Plan(target: .direct(route, .parts(head)), clusterID: target.clusterID, subPath: target.subPath, user: caller.caller.user, verb: caller.verb,
                    routeName: target.routeName, started: .now)
    }

    /// Where a request path points, split once.
    struct Target {
        let clusterID: String
        /// Below the cluster's prefix, without the query.
        let subPath: String
        /// What the apiserver is asked for: the sub-path and the query.
        let upstreamURI: String
        let routeName: String
    }

    /// The cluster and sub-path of a path under one of the prefixes, unless it leaves the prefix,
    /// is the bare cluster root, or asks for a stream (a watch, `follow`).
    static func target(_ fullPath: String) -> Target? {
        guard let prefixIndex = prefixes.firstIndex(where: { fullPath.utf8.starts(with: $0.utf8) }) else { return nil }
        let utf8 = fullPath.utf8
        // Both marks are ASCII, so their UTF-8 indices are valid String indices.
        let mark = utf8.firstIndex(of: UInt8(ascii: "?"))
        let rest = utf8.index(utf8.startIndex, offsetBy: prefixes[prefixIndex].utf8.count)
        guard let slash = utf8[rest..<(mark ?? utf8.endIndex)].firstIndex(of: UInt8(ascii: "/")), slash > rest else { return nil }
        let subPath = String(fullPath[slash..<(mark ?? fullPath.endIndex)])
        let query = mark.map { fullPath[utf8.index(after: $0)...] }
        guard subPath.utf8.count > 1, !KubeProxy.leavesPrefix(subPath), !KubeProxy.isStreaming(query: query.map(String.init)) else { return nil }
        return Target(clusterID: String(fullPath[rest..<slash]), subPath: subPath, upstreamURI: String(fullPath[slash...]), routeName: routeNames[prefixIndex])
    }

    /// The caller, when the cached decision for its token allows the GET (a non-admin may not
    /// impersonate).
    func allowedCaller(authorization: String, target: Target, impersonating: Bool) -> (caller: KubeProxy.Caller, verb: String)? {
        guard let token = BearerToken.parse(authorization) else { return nil }
        let verb = KubeProxy.permissionAction(.get, subPath: target.subPath, upgrade: false)
        guard let decision = decisions.cached(token: token, cluster: target.clusterID, verb: verb), case .allowed(user: let user, admin: let admin) = decision,
              admin || !impersonating
        else { return nil }
        return (.init(user: user, admin: admin), verb)
    }

    /// The cluster's direct route, unless another replica may hold its tunnel.
    func directRoute(_ clusterID: String) -> DirectRoute? {
        if let directory, !directory.knownUnowned(clusterID) { return nil }
        return routes.route(for: clusterID)
    }

    /// The `Authorization` value of a request the fast path may carry: one with no body, no
    /// upgrade, no `Expect`, no `Connection: close`, not a peer hop and one `Authorization` field.
    private static func authorizationIfPlain(_ headers: HTTPFields) -> String? {
        var authorization: String?
        for field in headers {
            switch field.name {
            case .authorization:
                guard authorization == nil else { return nil }
                authorization = field.value
            case .contentLength:
                guard field.value == "0" else { return nil }
            case .transferEncoding, .upgrade, .expect:
                return nil
            case .connection:
                let lower = field.value.lowercased()
                if lower.contains("close") || lower.contains("upgrade") { return nil }
            case peerSecret:
                return nil
            default:
                continue
            }
        }
        return authorization
    }

    private static let peerSecret = HTTPField.Name(PeerLinks.secretHeader)!
}

/// The request metrics Hummingbird's `MetricsMiddleware` records, for requests the fast path answers
/// (they never reach the router), made once per route and status.
final class FastPathMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private struct Handles: Sendable {
        let counter: Counter
        let timer: Timer
    }

    private let handles = MetricHandles<Key, Handles> { key in
        let dimensions = [("http.route", key.route), ("http.request.method", "GET"), ("http.response.status_code", String(key.status))]
        return Handles(counter: Counter(label: "hb.requests", dimensions: dimensions),
                       timer: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds))
    }
    let fastRequests = Counter(label: "bcs_gateway_fast_path_requests_total")
    /// Of those, the ones carried through an agent tunnel.
    let tunnelRequests = Counter(label: "bcs_gateway_fast_path_tunnel_requests_total")
    /// Of those, the ones an HTTP/1.1 client sent and got as wire bytes (`HTTP1WireLane`).
    let wireRequests = Counter(label: "bcs_gateway_fast_path_wire_requests_total")
    let fallbacks = Counter(label: "bcs_gateway_fast_path_fallbacks_total")

    func record(route: String, status: Int, since started: ContinuousClock.Instant) {
        let made = handles(Key(route: route, status: status))
        made.counter.increment()
        let elapsed = ContinuousClock.now - started
        made.timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        fastRequests.increment()
    }
}
