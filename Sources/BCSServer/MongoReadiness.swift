import BCSCore
import BCSMongo
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Whether MongoDB answered its last ping, as `/readyz` reports it.
///
/// A background monitor pings on an interval and `/readyz` reads the cached result, so probes answer
/// instantly and never pile blocked pings onto the libmongoc threads while the database is away.
public final class MongoReadiness: Sendable {
    public enum Status: Sendable, Equatable {
        case starting
        case ready
        case notReady(reason: String)
    }

    private let state = Mutex<Status>(.starting)

    public init() {}

    public var status: Status { state.withLock { $0 } }

    func update(_ status: Status) { state.withLock { $0 = status } }
}

/// Pings MongoDB every `interval` and records the outcome in a `MongoReadiness`.
struct MongoReadinessMonitor: Service {
    let client: MongoClient
    let readiness: MongoReadiness
    let interval: Duration
    let logger: Logger
    private let up = Gauge(label: "bcs_mongodb_up")
    private let latency = Timer(label: "bcs_mongodb_ping_duration_seconds")

    init(client: MongoClient, readiness: MongoReadiness, interval: Duration, logger: Logger) {
        self.client = client
        self.readiness = readiness
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        let clock = ContinuousClock()
        var wasReady: Bool?
        while !Task.isShuttingDownGracefully {
            let start = clock.now
            do {
                try await client.ping()
                latency.recordInterval(since: start, clock: clock)
                readiness.update(.ready)
                up.record(1)
                if wasReady != true { logger.info("MongoDB reachable", metadata: ["mongodb": "\(client.uri)"]) }
                wasReady = true
            } catch {
                let reason = "mongodb \(client.uri): \(error)"
                readiness.update(.notReady(reason: reason))
                up.record(0)
                if wasReady != false { logger.warning("MongoDB unreachable; not ready", metadata: ["error": "\(error)"]) }
                wasReady = false
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

extension Timer {
    fileprivate func recordInterval(since start: ContinuousClock.Instant, clock: ContinuousClock) {
        let elapsed = clock.now - start
        let (s, atto) = elapsed.components
        recordNanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}
