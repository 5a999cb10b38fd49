import NIOCore

/// When an agent opens more tunnel sessions than its first, and when it retires them.
///
/// One session is one TLS connection, served by one event loop at each end: a busy cluster's
/// requests all queue on one thread of the agent and one of the gateway, and the two take turns
/// rather than work at once. A second session on other loops lets both ends use more cores and
/// gives the gateway a session on more of its loops (`TunnelPool.session(for:near:)`). Sessions
/// cost the gateway memory, so an idle agent keeps one; extras open under load and are retired
/// once idle.
public struct TunnelScaling: Sendable, Equatable {
    /// Most sessions one agent holds, its first included; 1 turns scaling off.
    public var maxSessions: Int
    /// Streams opened per second per session above which another session is opened.
    public var streamsPerSecond: Int
    /// An extra session that was given no stream for this long is retired (when the others would
    /// not need another at the load of the moment).
    public var idleAfter: Duration
    /// How often the load is sampled.
    public var interval: Duration
    /// After an extra session failed to connect, how long before another is tried.
    public var retryAfter: Duration

    public init(maxSessions: Int, streamsPerSecond: Int = 500, idleAfter: Duration = .seconds(60), interval: Duration = .seconds(1),
                retryAfter: Duration = .seconds(30)) {
        self.maxSessions = max(1, maxSessions)
        self.streamsPerSecond = max(1, streamsPerSecond)
        self.idleAfter = idleAfter
        self.interval = interval
        self.retryAfter = retryAfter
    }

    /// As many sessions as the agent has cores, at most 4.
    public static let standard = TunnelScaling(maxSessions: min(System.coreCount, 4))
}

/// Decides, from samples of the sessions' stream counters, when to open or retire a session.
///
/// A value type with no I/O, so its decisions are tested on their own (`SessionScalerTests`);
/// `TunnelAgent` samples and carries out the actions.
struct SessionScaler {
    /// One live session as sampled: `opened` is its `TunnelStats.streamsOpened`.
    struct Sample: Equatable {
        var id: Int
        var opened: Int
        var isFirst: Bool
        var isDraining: Bool
    }

    enum Action: Equatable {
        case open
        case retire(id: Int)
    }

    let scaling: TunnelScaling
    private var lastOpened: [Int: Int] = [:]
    private var lastActive: [Int: ContinuousClock.Instant] = [:]

    init(scaling: TunnelScaling) {
        self.scaling = scaling
    }

    /// What to do after a sample taken `elapsed` after the previous one; `connecting` sessions are
    /// being dialled, and `mayOpen` is false while a failed dial's wait has not passed.
    mutating func decide(_ sessions: [Sample], connecting: Int, mayOpen: Bool, elapsed: Duration, now: ContinuousClock.Instant) -> [Action] {
        var streams = 0
        for session in sessions {
            let delta = session.opened - (lastOpened[session.id] ?? 0)
            if delta > 0 || lastActive[session.id] == nil { lastActive[session.id] = now }
            lastOpened[session.id] = session.opened
            streams += max(delta, 0)
        }
        let ids = Set(sessions.map(\.id))
        lastOpened = lastOpened.filter { ids.contains($0.key) }
        lastActive = lastActive.filter { ids.contains($0.key) }

        let serving = sessions.filter { !$0.isDraining }
        guard !serving.isEmpty else { return [] }
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
        let rate = Double(streams) / seconds
        let count = serving.count + connecting
        if count < scaling.maxSessions, mayOpen, rate > Double(scaling.streamsPerSecond * count) {
            return [.open]
        }
        // Retire at most one idle extra per sample, and only when the ones left would not ask for
        // another at this rate (no open-retire flapping).
        guard connecting == 0, serving.count >= 2, rate <= Double(scaling.streamsPerSecond * (serving.count - 1)) else { return [] }
        for session in serving where !session.isFirst {
            if let active = lastActive[session.id], now - active >= scaling.idleAfter { return [.retire(id: session.id)] }
        }
        return []
    }
}
