import NIOCore
import Synchronization

/// The live tunnel sessions of every cluster: several per cluster (agent replicas), picked by load.
///
/// It holds sessions only. A session ending removes it here and nothing else: the cluster's
/// stored credentials are never touched (BCS 1.19.x deleted them on disconnect, which broke
/// clusters with several agents — bk-bcs#789).
public final class TunnelPool: Sendable {
    private let sessions = Mutex<[String: [TunnelSession]]>([:])
    private let onChange: @Sendable (_ clusterID: String, _ liveSessions: Int) -> Void

    /// `onChange` runs after a session is added or removed, with the cluster's live session count.
    public init(onChange: @escaping @Sendable (_ clusterID: String, _ liveSessions: Int) -> Void = { _, _ in }) {
        self.onChange = onChange
    }

    public func add(_ session: TunnelSession) {
        let count = sessions.withLock { map in
            map[session.clusterID, default: []].append(session)
            return map[session.clusterID]?.count ?? 0
        }
        onChange(session.clusterID, count)
    }

    public func remove(_ session: TunnelSession) {
        let count: Int? = sessions.withLock { map in
            guard var list = map[session.clusterID], let index = list.firstIndex(where: { $0 === session }) else { return nil }
            list.remove(at: index)
            map[session.clusterID] = list.isEmpty ? nil : list
            return list.count
        }
        if let count { onChange(session.clusterID, count) }
    }

    /// A live session for the cluster, the one with the fewest open streams; nil when none is up.
    /// A draining session (its agent retires it) is never chosen.
    ///
    /// With `near`, a session whose connection is served by that event loop wins: a request
    /// arriving on it then reaches the tunnel and its answer comes back without crossing to another
    /// thread and back (a hop each way cost the gateway about a tenth of its CPU in tunnel mode).
    public func session(for clusterID: String, near loop: (any EventLoop)? = nil) -> TunnelSession? {
        let live = sessions.withLock { $0[clusterID] ?? [] }.filter { $0.isActive && !$0.stats.draining }
        let fewestStreams = { (a: TunnelSession, b: TunnelSession) in a.stats.openStreams < b.stats.openStreams }
        if let loop, let local = live.filter({ $0.eventLoop === loop }).min(by: fewestStreams) { return local }
        return live.min(by: fewestStreams)
    }

    /// Every session of the cluster, live or closing.
    public func sessions(for clusterID: String) -> [TunnelSession] {
        sessions.withLock { $0[clusterID] ?? [] }
    }

    /// The clusters with at least one session.
    public var clusterIDs: [String] {
        sessions.withLock { Array($0.keys) }
    }

    /// Closes every session (graceful shutdown of the gateway).
    public func closeAll() {
        for session in sessions.withLock({ $0.values.flatMap { $0 } }) { session.close() }
    }
}
