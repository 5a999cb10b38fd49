import NIOCore

/// When to ping, when a peer is dead, and what a PING ACK says about the round trip.
///
/// Both ends of the tunnel run one. Every `interval` a tick sends a PING carrying the send time;
/// anything read from the peer counts as a sign of life; no byte for `deadAfter` means the
/// peer (or the path to it) is gone and the connection must be closed so its streams fail and
/// the agent reconnects — the half-open tunnels of remotedialer never happen. A value type
/// returning actions, so it is tested without a channel.
struct KeepaliveStateMachine {
    enum Action: Equatable {
        case none
        case ping(UInt64)
        case close(silentFor: Duration)
    }

    let keepalive: TunnelKeepalive
    private(set) var lastRead: NIODeadline
    private(set) var lastPingSent: NIODeadline?
    private(set) var closed = false

    init(keepalive: TunnelKeepalive, now: NIODeadline) {
        self.keepalive = keepalive
        self.lastRead = now
    }

    mutating func bytesRead(at now: NIODeadline) {
        if now > lastRead { lastRead = now }
    }

    /// How often the owner should call `tick`: often enough that a dead peer is closed within a
    /// second of the deadline, while PINGs still go out only every `interval`.
    var checkInterval: TimeAmount {
        min(TimeAmount(keepalive.interval), .seconds(1))
    }

    /// The periodic decision: close a peer silent past the deadline, else ping when one is due.
    mutating func tick(at now: NIODeadline) -> Action {
        guard !closed else { return .none }
        let silent = now - lastRead
        if silent >= TimeAmount(keepalive.deadAfter) {
            closed = true
            return .close(silentFor: Duration(silent))
        }
        if let sent = lastPingSent, now - sent < TimeAmount(keepalive.interval) { return .none }
        lastPingSent = now
        return .ping(now.uptimeNanoseconds)
    }

    /// The round trip of a PING ACK whose payload is a send time from `tick`; nil for a foreign payload.
    func roundTrip(ackPayload: UInt64, at now: NIODeadline) -> Duration? {
        let sent = NIODeadline.uptimeNanoseconds(ackPayload)
        guard sent <= now, now - sent < TimeAmount(keepalive.deadAfter) * 4 else { return nil }
        return Duration(now - sent)
    }
}
