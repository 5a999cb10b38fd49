import BCSMongo
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import BCSUserManager

@Suite("credential feed: in process and across processes")
struct CredentialFeedTests {
    static func sample(_ id: String, token: String = "t") -> ClusterCredentials {
        ClusterCredentials(clusterID: id, serverAddresses: ["https://a:1"], caCertPEM: "ca", serviceAccountToken: token, clusterDomain: "", updatedAt: Date())
    }

    @Test func fansOutToSubscribersAndDropsRepeatedVersions() async throws {
        let feed = CredentialFeed()
        #expect(feed.publish(.updated(Self.sample("A")), version: 1), "no subscriber: delivered to nobody, remembered")
        let one = feed.subscribe(), two = feed.subscribe()
        #expect(feed.subscriberCount == 2)
        #expect(!feed.publish(.updated(Self.sample("A")), version: 1), "same version again is dropped")
        #expect(feed.publish(.updated(Self.sample("A", token: "t2")), version: 2))
        #expect(feed.publish(.removed(clusterID: "B"), version: 1), "versions are per cluster")
        feed.finish()
        var a: [CredentialChange] = [], b: [CredentialChange] = []
        for await change in one { a.append(change) }
        for await change in two { b.append(change) }
        #expect(a == [.updated(Self.sample("A", token: "t2")).withDate(a.first), .removed(clusterID: "B")])
        #expect(a == b)
    }

    @Test func subscriptionsEndWhenTheSubscriberGoesAway() async throws {
        let feed = CredentialFeed()
        do {
            let stream = feed.subscribe()
            let task = Task { for await _ in stream {} }
            #expect(feed.subscriberCount == 1)
            task.cancel()
            await task.value
        }
        try await eventually { feed.subscriberCount == 0 }
    }

    /// Two user-manager processes on one database: a report handled by A reaches B's feed through MongoDB.
    @Test func reportsInOneProcessReachTheOtherThroughMongoDB() async throws {
        let database = try TestMongo.freshDatabase()
        let a = try await UMHarness.make(database: database)
        let feedB = CredentialFeed()
        let b = try await UMHarness.make(database: database, extra: ["credential-poll-interval": "0.2"], feed: feedB)
        defer { Task { await a.cleanUp() } }
        let changes = feedB.subscribe()
        let watcher = b.role.credentialWatcher
        let group = ServiceGroup(configuration: .init(services: [watcher], logger: Logger(label: "test.watcher")))
        let running = Task { try await group.run() }
        defer { Task { await group.triggerGracefulShutdown() } }

        let received = Mutex<[CredentialChange]>([])
        let reader = Task {
            for await change in changes { received.withLock { $0.append(change) } }
        }
        defer { reader.cancel() }

        let clock = ContinuousClock()
        let reportedAt = Mutex(clock.now)
        try await a.run { api in
            let token = try await api.registerCluster("CROSS-1")
            try await Task.sleep(for: .milliseconds(300))  // the watcher is polling by now
            reportedAt.withLock { $0 = clock.now }
            #expect(try await api.report("CROSS-1", token: token, addresses: "https://10.1.1.1:6443", saToken: "from-a").code == 0)
        }
        try await eventually(timeout: .seconds(15)) {
            received.withLock { $0.contains { if case .updated(let c) = $0 { c.serviceAccountToken == "from-a" } else { false } } }
        }
        let latency = clock.now - reportedAt.withLock { $0 }
        // Two poll intervals (2 s) would do on an idle machine; the bound allows for a loaded CI run.
        #expect(latency < .seconds(10), "seen in the other process within a few seconds: \(latency)")
        let update = received.withLock { $0.first }
        guard case .updated(let c) = update else { Issue.record("\(String(describing: update))"); return }
        #expect(c.clusterID == "CROSS-1" && c.serverAddresses == ["https://10.1.1.1:6443"] && c.caCertPEM == TestPEM.ca)

        // Deleting in A is seen in B too; reports are delivered once, not at every poll.
        try await a.run { api in
            let deleted = try await api.call(.delete, "/usermanager/v1/clusters/CROSS-1")
            #expect(deleted.code == 0)
        }
        try await eventually(timeout: .seconds(15)) { received.withLock { $0.contains(.removed(clusterID: "CROSS-1")) } }
        try await Task.sleep(for: .milliseconds(800))
        #expect(received.withLock { $0.count } == 2, "\(received.withLock { $0 })")
        await group.triggerGracefulShutdown()
        _ = await running.result
        _ = b
    }

    @Test func aWatcherWithoutSubscribersDoesNotPoll() async throws {
        let counting = CountingStore()
        let watcher = CredentialWatcher(store: counting, box: SecretBox(secret: Array("x-secret-0123456789abcdef0123456789".utf8)), feed: CredentialFeed(),
                                        interval: .milliseconds(20), logger: Logger(label: "test"))
        let group = ServiceGroup(configuration: .init(services: [watcher], logger: Logger(label: "test")))
        let task = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(200))
        await group.triggerGracefulShutdown()
        _ = await task.result
        #expect(counting.polls.load(ordering: .relaxed) == 0)
    }
}

extension CredentialChange {
    /// The same change with the date of `other` (dates are not what these tests compare).
    func withDate(_ other: CredentialChange?) -> CredentialChange {
        guard case .updated(var c) = self, case .updated(let o)? = other else { return self }
        c.updatedAt = o.updatedAt
        return .updated(c)
    }
}

/// A store that only counts polls.
final class CountingStore: CredentialStore {
    let polls = Atomic<Int>(0)
    func armRegisterToken(clusterID: String, tokenKey: String) async throws {}
    func armIfAbsent(clusterID: String, tokenKey: String) async throws {}
    func report(clusterID: String, tokenKey: String, serverAddresses: String, sealedCACert: String, sealedUserToken: String, at: Date) async throws -> Bool { false }
    func credentials(clusterID: String) async throws -> StoredCredentials? { nil }
    func allCredentials() async throws -> [StoredCredentials] { [] }
    func lastReports() async throws -> [String: Date] { [:] }
    func markDeleted(clusterID: String, at: Date) async throws {}
    func changes(sinceMillis millis: Int64, limit: Int) async throws -> [CredentialsChangeRecord] {
        polls.add(1, ordering: .relaxed)
        return []
    }
}

/// Waits until `condition` holds, failing after `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(timeout)")
    throw HarnessFailure("timed out")
}
