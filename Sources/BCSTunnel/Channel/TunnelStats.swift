import Foundation
import Synchronization

/// What a session's users see of its health: since when, the last PING ACK, the RTT, its streams.
public struct TunnelStats: Sendable, Equatable {
    public var connectedAt: Date
    public var lastPong: Date?
    public var rtt: Duration?
    public var openStreams: Int
    /// Streams opened since the session began: the agent's measure of its load.
    public var streamsOpened: Int = 0
    /// The peer sent a graceful GOAWAY: the streams open finish, no new one should be opened.
    public var draining = false
}

/// The stats of one session, written by its handlers and read from any thread.
final class TunnelStatsBox: Sendable {
    private let state: Mutex<TunnelStats>

    init(connectedAt: Date = Date()) {
        state = Mutex(TunnelStats(connectedAt: connectedAt, lastPong: nil, rtt: nil, openStreams: 0))
    }

    var value: TunnelStats { state.withLock { $0 } }
    func pong(rtt: Duration) { state.withLock { $0.lastPong = Date(); $0.rtt = rtt } }
    func streamOpened() { state.withLock { $0.openStreams += 1; $0.streamsOpened += 1 } }
    func drain() { state.withLock { $0.draining = true } }
    func streamClosed() { state.withLock { $0.openStreams -= 1 } }
}
