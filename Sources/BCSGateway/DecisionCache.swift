import BCSUserManager
import Synchronization

/// Remembers access decisions for a short time, so the proxy's hot path does not ask MongoDB twice
/// a second for the same caller, cluster and verb.
///
/// A decision lives `ttl` (2 s): a revoked token or grant stops working within that time, inside the
/// 5 s the project allows. The table is bounded; when full it starts over rather than grow. Tokens
/// are held in memory only, as keys, never logged.
final class DecisionCache: Sendable {
    private struct Entry {
        let decision: AccessControl.Decision
        let expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    let ttl: Duration
    let capacity: Int

    init(ttl: Duration = .seconds(2), capacity: Int = 50_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The decision already taken for this caller, cluster and verb, if it is still fresh; never asks.
    ///
    /// The proxy's event-loop fast path uses it: a request it cannot decide here takes the slow path.
    func cached(token: String, cluster: String, verb: String, now: ContinuousClock.Instant = .now) -> AccessControl.Decision? {
        let key = token + "\u{0}" + cluster + "\u{0}" + verb
        guard let hit = entries.withLock({ $0[key] }), hit.expires > now else { return nil }
        return hit.decision
    }

    func decision(token: String?, cluster: String, verb: String, decide: () async throws -> AccessControl.Decision) async throws -> AccessControl.Decision {
        guard let token else { return try await decide() }
        let key = token + "\u{0}" + cluster + "\u{0}" + verb
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[key] }), hit.expires > now { return hit.decision }
        let decision = try await decide()
        entries.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = Entry(decision: decision, expires: now + ttl)
        }
        return decision
    }
}
