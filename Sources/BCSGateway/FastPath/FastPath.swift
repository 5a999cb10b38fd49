import BCSCore
import BCSKube
import BCSTunnel
import BCSUserManager
import HTTPTypes
import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP1
import Synchronization

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
            case direct(DirectRoute, HTTPRequestHead)
            /// Through the agent tunnel, as a stream with this header block.
            case tunnel(TunnelSession, HPACKHeaders)
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

    /// The plan for a request, or nil when it must take the ordinary path.
    func plan(_ request: HTTPRequest) -> Plan? {
        guard request.method == .get, authorises, let fullPath = request.path else { return nil }
        guard let prefix = Self.prefixes.first(where: { fullPath.hasPrefix($0) }) else { return nil }
        let path: Substring
        let query: Substring?
        if let mark = fullPath.firstIndex(of: "?") {
            path = fullPath[..<mark]
            query = fullPath[fullPath.index(after: mark)...]
        } else {
            path = fullPath[...]
            query = nil
        }
        let rest = path.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/"), slash > rest.startIndex else { return nil }
        let clusterID = String(rest[..<slash])
        let subPath = String(rest[slash...])
        guard subPath.count > 1, !KubeProxy.leavesPrefix(subPath), !KubeProxy.isStreaming(query: query.map(String.init)) else { return nil }
        let headers = request.headerFields
        if let length = headers[.contentLength], length != "0" { return nil }
        if headers[.transferEncoding] != nil || headers[.upgrade] != nil || headers[.expect] != nil { return nil }
        for value in headers[values: .connection] {
            let lower = value.lowercased()
            if lower.contains("close") || lower.contains("upgrade") { return nil }
        }
        if let peer = HTTPField.Name(PeerLinks.secretHeader), headers[peer] != nil { return nil }
        guard let token = headers.bearerToken else { return nil }
        let verb = KubeProxy.permissionAction(.get, subPath: subPath, upgrade: false)
        guard let decision = decisions.cached(token: token, cluster: clusterID, verb: verb), case .allowed(user: let user, admin: let admin) = decision else { return nil }
        if !admin, headers.contains(where: { $0.name.canonicalName.hasPrefix("impersonate-") }) { return nil }
        let routeName = prefix + "{cluster_id}/**"
        let upstreamURI = String(subPath) + (query.map { "?\($0)" } ?? "")
        // A live agent tunnel wins, as on the ordinary path.
        let identity = KubeProxy.identityHeaders(of: .init(user: user, admin: admin), from: headers, impersonate: impersonate)
        if let session = tunnels.session(for: clusterID) {
            let head = KubeProxy.tunnelRequest(.get, path: upstreamURI, headers: headers, identity: identity, upgrade: false)
            return Plan(target: .tunnel(session, TunnelHeaders.requestBlock(head, upgrade: nil)), clusterID: clusterID, subPath: subPath,
                        user: user, verb: verb, routeName: routeName, started: .now)
        }
        if let directory, !directory.knownUnowned(clusterID) { return nil }
        guard let route = routes.route(for: clusterID) else { return nil }

        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: upstreamURI)
        head.headers.reserveCapacity(headers.count + 3)
        head.headers.add(name: "Host", value: route.address.hostHeader)
        for field in headers where !KubeProxy.droppedRequestHeaders.contains(field.name.canonicalName) {
            head.headers.add(name: field.name.rawName, value: field.value)
        }
        head.headers.add(name: "Authorization", value: "Bearer \(route.token)")
        for (name, value) in identity { head.headers.add(name: name, value: value) }
        return Plan(target: .direct(route, head), clusterID: clusterID, subPath: subPath, user: user, verb: verb,
                    routeName: routeName, started: .now)
    }
}

/// The request metrics Hummingbird's `MetricsMiddleware` records, for requests the fast path answers
/// (they never reach the router), made once per route and status.
final class FastPathMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private let table = Mutex<[Key: (Counter, Timer)]>([:])
    let fastRequests = Counter(label: "bcs_gateway_fast_path_requests_total")
    /// Of those, the ones carried through an agent tunnel.
    let tunnelRequests = Counter(label: "bcs_gateway_fast_path_tunnel_requests_total")
    let fallbacks = Counter(label: "bcs_gateway_fast_path_fallbacks_total")

    func record(route: String, status: Int, since started: ContinuousClock.Instant) {
        let (counter, timer) = table.withLock { table in
            let key = Key(route: route, status: status)
            if let found = table[key] { return found }
            let dimensions = [("http.route", route), ("http.request.method", "GET"), ("http.response.status_code", String(status))]
            let made = (Counter(label: "hb.requests", dimensions: dimensions),
                        Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds))
            table[key] = made
            return made
        }
        counter.increment()
        let elapsed = ContinuousClock.now - started
        timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        fastRequests.increment()
    }
}
