import Foundation
import Synchronization

/// What a session's users see of its health: since when, the last PING ACK, the RTT, open streams.
public struct TunnelStats: Sendable, Equatable {
    public var connectedAt: Date
    public var lastPong: Date?
    public var rtt: Duration?
    public var openStreams: Int
}

/// The stats of one session, written by its handlers and read from any thread.
final class TunnelStatsBox: Sendable {
    private let state: Mutex<TunnelStats>

    init(connectedAt: Date = Date()) {
        state = Mutex(TunnelStats(connectedAt: connectedAt, lastPong: nil, rtt: nil, openStreams: 0))
    }

    var value: TunnelStats { state.withLock { $0 } }
    func pong(rtt: Duration) { state.withLock { $0.lastPong = Date(); $0.rtt = rtt } }
    func streamOpened() { state.withLock { $0.openStreams += 1 } }
    func streamClosed() { state.withLock { $0.openStreams -= 1 } }
}
