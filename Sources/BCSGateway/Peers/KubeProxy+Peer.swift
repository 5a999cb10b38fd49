import AsyncHTTPClient
import BCSCore
import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Requests for a cluster whose agent tunnel another gateway replica holds: forwarded to that
/// replica, which serves them through its session (`Peers/TunnelDirectory.swift`).
extension KubeProxy {
    /// Hop-by-hop headers are not forwarded to a peer; everything else is, the caller's own
    /// `Authorization` and `Impersonate-*` included, because the peer authorises the request again.
    static let droppedPeerHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "proxy-authorization",
        PeerLinks.secretHeader, PeerLinks.fromHeader,
    ]

    /// Whether the request came from a peer replica (bearing the right secret); a wrong secret is refused.
    func checkPeer(_ request: Request) throws -> Bool {
        guard let name = HTTPField.Name(PeerLinks.secretHeader), let presented = request.headers[name] else { return false }
        guard let peers, peers.verify(presented) else {
            throw KubeStatus.forbidden("a peer-forwarded request with a wrong peer secret (check --peer-secret on every gateway replica)")
        }
        peers.noteReceived()
        return true
    }

    func proxyToPeer(
        _ request: Request, context: BCSRequestContext, target: Target, caller: Caller, owner: TunnelDirectory.Owner, upgrade: Bool,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        guard let peers, let directory else { throw KubeStatus.unavailable("cluster \(target.clusterID): peer forwarding is not configured") }
        peers.noteForwarded()
        let uri = request.uri.string
        if upgrade {
            return try await peerUpgrade(request, context: context, target: target, caller: caller, owner: owner, uri: uri, started: started)
        }
        let lease = try peers.lease(for: owner.peerURL)
        var outbound = HTTPClientRequest(url: owner.peerURL.trimmingSlash + uri)
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.droppedPeerHeaders.contains(field.name.canonicalName) {
            outbound.headers.add(name: field.name.rawName, value: field.value)
        }
        outbound.headers.add(name: PeerLinks.secretHeader, value: peers.secret)
        outbound.headers.add(name: PeerLinks.fromHeader, value: directory.replica)
        if Self.hasBody(request) {
            // Whole, for the reason `wholeBody` gives.
            outbound.headers.remove(name: "Content-Length")
            outbound.body = .bytes(try await Self.wholeBody(of: request))
        }
        let response: HTTPClientResponse
        do {
            response = try await lease.client.execute(outbound, timeout: .seconds(30))
        } catch {
            directory.forget(target.clusterID)
            audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath, status: 502, bytes: 0, started: started)
            throw KubeStatus.badGateway("cluster \(target.clusterID): its tunnel is on gateway replica \(owner.replica), which cannot be reached: \(error)")
        }
        return try await relay(response, lease: lease, request: request, context: context, target: target, caller: caller, started: started)
    }

    /// An exec/attach/port-forward for a cluster another replica tunnels: the upgrade goes to that
    /// replica as it came, and after its 101 the bytes are spliced both ways.
    private func peerUpgrade(
        _ request: Request, context: BCSRequestContext, target: Target, caller: Caller, owner: TunnelDirectory.Owner, uri: String,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        guard let peers, let directory else { throw KubeStatus.unavailable("cluster \(target.clusterID): peer forwarding is not configured") }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: uri)
        for field in request.headers where !Self.droppedPeerHeaders.subtracting(["upgrade"]).contains(field.name.canonicalName) {
            head.headers.add(name: field.name.rawName, value: field.value)
        }
        head.headers.add(name: "Connection", value: "Upgrade")
        head.headers.add(name: PeerLinks.secretHeader, value: peers.secret)
        head.headers.add(name: PeerLinks.fromHeader, value: directory.replica)
        let front = context.channel
        let outcome: UpstreamUpgrade.Outcome
        do {
            outcome = try await UpstreamUpgrade.open(address: owner.peerURL, tls: try peers.upgradeTLS(for: owner.peerURL), head: head, eventLoop: front.eventLoop)
        } catch {
            directory.forget(target.clusterID)
            audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath, status: 502, bytes: 0, started: started)
            throw KubeStatus.badGateway("cluster \(target.clusterID): its tunnel is on gateway replica \(owner.replica), which cannot be reached: \(error)")
        }
        return try await answerUpgrade(outcome, front: front, request: request, target: target, caller: caller, started: started)
    }
}
