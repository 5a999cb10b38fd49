@testable import BCSGateway
import BCSUserManager
import Synchronization
import Testing

/// The access-decision cache: fresh decisions are served without asking, one in use is renewed in
/// the background before it expires, and a revocation shows within the time to live.
@Suite("gateway: access decision cache")
struct DecisionCacheTests {
    final class Decider: Sendable {
        let calls = Atomic<Int>(0)
        let revoked = Atomic<Bool>(false)

        func decide(_ token: String?, _ cluster: String, _ verb: String) async throws -> AccessControl.Decision {
            calls.add(1, ordering: .relaxed)
            return revoked.load(ordering: .relaxed) ? .forbidden("revoked") : .allowed(user: "alice", admin: false)
        }
    }

    static func isAllowed(_ decision: AccessControl.Decision?) -> Bool {
        if case .allowed = decision { return true }
        return false
    }

    @Test func aDecisionInUseIsRenewedBeforeItExpiresAndARevocationShows() async throws {
        let decider = Decider()
        // Generous times, waited for rather than slept: the renewal is a task of its own, and a
        // loaded test machine starts it late. A 6 s life leaves 2.7 s between the reads "past half
        // its life" and the expiry: with a 1 s life, a sleep overshooting by 0.4 s under the full
        // suite's load read an expired entry, and with 3 s (1.2 s of slack) one overshooting by more.
        let cache = DecisionCache(ttl: .seconds(6), decide: { try await decider.decide($0, $1, $2) })
        let clock = ContinuousClock()
        let started = clock.now
        #expect(cache.cached(token: "t", cluster: "c", verb: "GET") == nil, "nothing cached yet")
        let first = try await cache.decision(token: "t", cluster: "c", verb: "GET")
        #expect(Self.isAllowed(first))
        #expect(decider.calls.load(ordering: .relaxed) == 1)

        // Young: served as it is, nobody asked.
        for _ in 0..<10 { #expect(Self.isAllowed(cache.cached(token: "t", cluster: "c", verb: "GET"))) }
        #expect(decider.calls.load(ordering: .relaxed) == 1)

        // Past half its life: still served, renewed once however often it is read.
        try await Task.sleep(until: started + .milliseconds(3300))
        for _ in 0..<10 { #expect(Self.isAllowed(cache.cached(token: "t", cluster: "c", verb: "GET"))) }
        while clock.now - started < .seconds(12), decider.calls.load(ordering: .relaxed) < 2 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(decider.calls.load(ordering: .relaxed) == 2)

        // Read on, it never lapses: past the first decision's expiry it is still there.
        if clock.now < started + .milliseconds(6300) { try await Task.sleep(until: started + .milliseconds(6300)) }
        #expect(Self.isAllowed(cache.cached(token: "t", cluster: "c", verb: "GET")), "renewed, not expired")

        // Revoked: the next renewal brings the refusal, within the time to live.
        decider.revoked.store(true, ordering: .relaxed)
        var refused = false
        let revoked = clock.now
        while clock.now - revoked < .seconds(12), !refused {
            if case .forbidden = cache.cached(token: "t", cluster: "c", verb: "GET") { refused = true }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(refused, "a revocation shows within the time to live")
    }

    @Test func anEntryNotReadAgainExpires() async throws {
        let decider = Decider()
        // A life long enough for a loaded machine: the lookup runs in a task of its own, and the
        // read right after it must still fall in the first half of the decision's life.
        let cache = DecisionCache(ttl: .seconds(2), decide: { try await decider.decide($0, $1, $2) })
        _ = try await cache.decision(token: "t", cluster: "c", verb: "GET")
        #expect(Self.isAllowed(cache.cached(token: "t", cluster: "c", verb: "GET")))
        try await Task.sleep(for: .milliseconds(2300))
        #expect(cache.cached(token: "t", cluster: "c", verb: "GET") == nil)
        #expect(decider.calls.load(ordering: .relaxed) == 1, "renewed only when read in the second half of its life")
    }

    @Test func withoutAccessToTheUserManagerNothingIsDecided() async throws {
        let cache = DecisionCache(access: nil)
        await #expect(throws: KubeStatus.self) { try await cache.decision(token: "t", cluster: "c", verb: "GET") }
        #expect(cache.cached(token: "t", cluster: "c", verb: "GET") == nil)
    }
}

/// Misses of one entry at the same moment share one lookup; different entries do not wait on each other.
@Suite("gateway: access decision cache, concurrent misses")
struct DecisionCacheConcurrentMissTests {
    /// Answers when released, counting the lookups it was asked for.
    final class SlowDecider: Sendable {
        let calls = Atomic<Int>(0)
        let released = Atomic<Bool>(false)
        let failing = Atomic<Bool>(false)

        func decide(_ token: String?, _ cluster: String, _ verb: String) async throws -> AccessControl.Decision {
            calls.add(1, ordering: .relaxed)
            while !released.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
            if failing.load(ordering: .relaxed) { throw KubeStatus.unavailable("MongoDB is away") }
            return .allowed(user: token ?? "", admin: false)
        }
    }

    @Test func missesOfOneEntryTogetherAskOnce() async throws {
        let decider = SlowDecider()
        // Long-lived decisions: the callers may start far apart on a loaded machine.
        let cache = DecisionCache(ttl: .seconds(60), decide: { try await decider.decide($0, $1, $2) })
        try await withThrowingTaskGroup(of: AccessControl.Decision.self) { group in
            for _ in 0..<28 { group.addTask { try await cache.decision(token: "alice", cluster: "c", verb: "GET") } }
            group.addTask { try await cache.decision(token: "bob", cluster: "c", verb: "GET") }
            // Everyone is waiting before the answer comes.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while decider.calls.load(ordering: .relaxed) < 2, clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(100))
            decider.released.store(true, ordering: .relaxed)
            var users: [String: Int] = [:]
            for try await decision in group {
                if case .allowed(let user, _) = decision { users[user, default: 0] += 1 }
            }
            #expect(users == ["alice": 28, "bob": 1])
        }
        #expect(decider.calls.load(ordering: .relaxed) == 2, "one lookup for alice's 28 callers, one for bob")
        // Stored: the next read needs no lookup.
        #expect(DecisionCacheTests.isAllowed(cache.cached(token: "alice", cluster: "c", verb: "GET")))
        _ = try await cache.decision(token: "alice", cluster: "c", verb: "GET")
        #expect(decider.calls.load(ordering: .relaxed) == 2)
    }

    @Test func aFailedLookupFailsItsWaitersAndTheNextMissAsksAgain() async throws {
        let decider = SlowDecider()
        decider.failing.store(true, ordering: .relaxed)
        let cache = DecisionCache(decide: { try await decider.decide($0, $1, $2) })
        let first = Task { try await cache.decision(token: "alice", cluster: "c", verb: "GET") }
        let second = Task { try await cache.decision(token: "alice", cluster: "c", verb: "GET") }
        try await Task.sleep(for: .milliseconds(100))
        decider.released.store(true, ordering: .relaxed)
        await #expect(throws: KubeStatus.self) { try await first.value }
        await #expect(throws: KubeStatus.self) { try await second.value }
        let failed = decider.calls.load(ordering: .relaxed)
        decider.failing.store(false, ordering: .relaxed)
        #expect(DecisionCacheTests.isAllowed(try await cache.decision(token: "alice", cluster: "c", verb: "GET")))
        #expect(decider.calls.load(ordering: .relaxed) == failed + 1, "a failure is not remembered")
    }
}
