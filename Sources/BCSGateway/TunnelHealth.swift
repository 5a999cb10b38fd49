import BCSTunnel
import Foundation
import Metrics
import Synchronization

/// What the gateway remembers of clusters reached through agent tunnels, for health and errors.
///
/// The pool holds live sessions only; this remembers that a cluster had one (so a request after
/// the agent died gets "tunnel down" rather than "unknown cluster") and keeps
/// `bcs_gateway_tunnel_sessions{cluster}` current. Entries exist only for clusters whose agent
/// passed the register-token check, so the set is bounded by the registered clusters.
final class TunnelHealth: Sendable {
    private let seen = Mutex<[String: Date]>([:])

    /// A session was added or removed; `live` is the cluster's session count now.
    func changed(clusterID: String, live: Int) {
        seen.withLock { $0[clusterID] = Date() }
        Gauge(label: "bcs_gateway_tunnel_sessions", dimensions: [("cluster", clusterID)]).record(live)
    }

    func hadTunnel(_ clusterID: String) -> Bool { seen.withLock { $0[clusterID] != nil } }

    /// Clusters that ever had a tunnel, with the time of their last session change.
    var clusters: [String: Date] { seen.withLock { $0 } }

    /// A dead peer is found within 15 s (5 s pings); a pong older than that means trouble.
    static let pongDeadline: TimeInterval = 15

    /// The cluster's state as its tunnels show it, or nil when it never had one.
    func status(of clusterID: String, pool: TunnelPool, now: Date = Date()) -> (state: ClusterHealth, reason: String, sessions: Int, rttMilliseconds: Double?, lastPong: Date?)? {
        guard let changedAt = seen.withLock({ $0[clusterID] }) else { return nil }
        let live = pool.sessions(for: clusterID).filter(\.isActive)
        guard !live.isEmpty else {
            return (.unreachable, "no agent tunnel since \(changedAt.formatted(.iso8601))", 0, nil, nil)
        }
        let stats = live.map(\.stats)
        let lastPong = stats.compactMap(\.lastPong).max()
        let rtt = stats.compactMap(\.rtt).min().map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
        let newest = lastPong ?? stats.map(\.connectedAt).max() ?? changedAt
        if now.timeIntervalSince(newest) > Self.pongDeadline {
            return (.degraded, "no keepalive answer for \(Int(now.timeIntervalSince(newest))) s", live.count, rtt, lastPong)
        }
        return (.healthy, "", live.count, rtt, lastPong)
    }
}
