import BCSUserManager
import Synchronization

/// Remembers access decisions for a short time, so the proxy's hot path does not ask MongoDB twice
/// a second for the same caller, cluster and verb.
///
/// A decision lives `ttl` (2 s): a revoked token or grant stops working within that time, inside the
/// 5 s the project allows. The table is bounded; when full it starts over rather than grow. Tokens
/// are held in memory only, as keys, never logged.
///
/// A decision the fast path reads after half its life is taken again in the background (once per
/// entry), so one in steady use never expires under its callers: when it did, every connection of a
/// busy client missed it in the same instant and went to the ordinary path and MongoDB together,
/// which showed as a latency spike every 2 s.
///
/// Callers that miss the same entry together share one lookup. After a pause longer than the time
/// to live, a client's next burst (every connection of a busy controller at once) missed together,
/// and each asked MongoDB on its own: 28 connections waited 40–50 ms for their queries in turn.
final class DecisionCache: Sendable {
    typealias Decide = @Sendable (_ token: String?, _ cluster: String, _ verb: String) async throws -> AccessControl.Decision

    private struct Entry {
        let decision: AccessControl.Decision
        let renewAfter: ContinuousClock.Instant
        let expires: ContinuousClock.Instant
        var renewing = false
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Lookups under way, by key: a miss joins the one running for its key.
    private let lookups = Mutex<[String: Task<AccessControl.Decision, any Error>]>([:])
    let ttl: Duration
    let capacity: Int
    /// Takes a decision; nil when this gateway has no access to the user-manager's data.
    private let decide: Decide?

    init(ttl: Duration = .seconds(2), capacity: Int = 50_000, decide: Decide?) {
        self.ttl = ttl
        self.capacity = capacity
        self.decide = decide
    }

    /// Decisions on clusters, taken by `access`.
    convenience init(access: AccessControl?) {
        guard let access else {
            self.init(decide: nil)
            return
        }
        self.init(decide: { token, cluster, verb in
            try await access.decide(token: token, resourceType: "cluster", resource: cluster, action: verb)
        })
    }

    /// The decision already taken for this caller, cluster and verb, if it is still fresh; never waits.
    ///
    /// The proxy's event-loop fast path uses it: a request it cannot decide here takes the slow path.
    func cached(token: String, cluster: String, verb: String, now: ContinuousClock.Instant = .now) -> AccessControl.Decision? {
        let key = Self.key(token, cluster, verb)
        let (hit, renew) = entries.withLock { table -> (AccessControl.Decision?, Bool) in
            guard var entry = table[key], entry.expires > now else { return (nil, false) }
            guard decide != nil, now >= entry.renewAfter, !entry.renewing else { return (entry.decision, false) }
            entry.renewing = true
            table[key] = entry
            return (entry.decision, true)
        }
        if renew, let decide {
            Task { await self.renew(key: key, token: token, cluster: cluster, verb: verb, decide: decide) }
        }
        return hit
    }

    /// The decision for this caller, cluster and verb: the cached one while fresh, else taken now.
    func decision(token: String?, cluster: String, verb: String) async throws -> AccessControl.Decision {
        guard let decide else {
            throw KubeStatus.unavailable("this gateway has no access to the user-manager's data; it needs the usermanager secret and MongoDB")
        }
        guard let token else { return try await decide(nil, cluster, verb) }
        let key = Self.key(token, cluster, verb)
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[key] }), hit.expires > now { return hit.decision }
        return try await lookup(key: key, token: token, cluster: cluster, verb: verb, decide: decide).value
    }

    /// The lookup running for `key`, or a new one. It stores its decision before it leaves the
    /// table, so a caller arriving in between finds one or the other.
    private func lookup(key: String, token: String, cluster: String, verb: String, decide: @escaping Decide) -> Task<AccessControl.Decision, any Error> {
        lookups.withLock { lookups in
            if let running = lookups[key] { return running }
            let started = ContinuousClock.now
            // Its own task: one caller cancelled must not fail the others waiting on it.
            let task = Task {
                defer { self.lookups.withLock { _ = $0.removeValue(forKey: key) } }
                let decision = try await decide(token, cluster, verb)
                self.store(decision, key: key, takenAt: started)
                return decision
            }
            lookups[key] = task
            return task
        }
    }

    private func renew(key: String, token: String, cluster: String, verb: String, decide: Decide) async {
        let now = ContinuousClock.now
        do {
            store(try await decide(token, cluster, verb), key: key, takenAt: now)
        } catch {
            // The entry expires as it would have; the ordinary path will ask (and explain) then.
            entries.withLock { table in table[key]?.renewing = false }
        }
    }

    private func store(_ decision: AccessControl.Decision, key: String, takenAt now: ContinuousClock.Instant) {
        entries.withLock { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[key] = Entry(decision: decision, renewAfter: now + ttl / 2, expires: now + ttl)
        }
    }

    private static func key(_ token: String, _ cluster: String, _ verb: String) -> String {
        token + "\u{0}" + cluster + "\u{0}" + verb
    }
}
