import BCSCore
import BCSTunnel
import BCSUserManager
import Foundation
import Hummingbird

/// `GET /gateway/v1/clusters`: every registered cluster's health as this gateway sees it.
///
/// Answers in BCS's envelope; needs a user allowed to GET the `cluster` resource `*`: an admin, or a
/// user granted `viewer` (or `manager`) on every cluster — health of clusters they may already read.
struct ClusterStatusController: Sendable {
    let registry: ClusterRegistry
    let tunnels: TunnelPool
    let tunnelHealth: TunnelHealth
    let access: AccessControl?

    func addRoutes(to router: Router<BCSRequestContext>) {
        router.get("gateway/v1/clusters") { request, _ -> Response in
            try await Self.requireReaderOfAllClusters(request, access: access)
            var statuses: [String: ClusterStatus] = [:]
            for actor in await registry.all {
                let status = await actor.status()
                statuses[status.cluster_id] = status
            }
            for clusterID in tunnelHealth.clusters.keys {
                guard let tunnel = tunnelHealth.status(of: clusterID, pool: tunnels) else { continue }
                var status = statuses[clusterID] ?? ClusterStatus(cluster_id: clusterID, state: tunnel.state, reason: tunnel.reason,
                                                                  server_addresses: [], preferred_address: "", last_report_at: nil, last_probe_at: nil)
                status.tunnel_sessions = tunnel.sessions
                status.tunnel_rtt_ms = tunnel.rttMilliseconds
                status.tunnel_last_pong = tunnel.lastPong?.formatted(.iso8601)
                if tunnel.sessions > 0 {
                    // Requests take the tunnel, so its health is the cluster's.
                    status.mode = "tunnel"
                    status.state = tunnel.state
                    status.reason = tunnel.reason
                } else if statuses[clusterID] == nil {
                    status.state = .unreachable
                }
                statuses[clusterID] = status
            }
            return bcsSuccess(statuses.values.sorted { $0.cluster_id < $1.cluster_id })
        }
    }

    /// The gateway's own status routes: a caller who may GET every cluster (BCS envelope errors).
    static func requireReaderOfAllClusters(_ request: Request, access: AccessControl?) async throws {
        guard let access else {
            throw BCSAPIError(.serviceUnavailable, code: 1405050, "the gateway needs a co-hosted usermanager role")
        }
        switch try await access.decide(token: request.bearerToken, resourceType: "cluster", resource: "*", action: "GET") {
        case .unauthenticated(let why), .forbidden(let why):
            throw BCSAPIError(.unauthorized, code: 1405059, why)
        case .allowed:
            return
        }
    }
}
