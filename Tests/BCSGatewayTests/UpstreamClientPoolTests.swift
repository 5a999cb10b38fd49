import AsyncHTTPClient
import Hummingbird
@testable import BCSGateway
import NIOSSL
import Testing

/// How a cluster's upstream clients are shared out: room per client, growth, the bound, trimming.
@Suite("gateway: upstream client pool")
struct UpstreamClientPoolTests {
    private func withPool(_ body: (UpstreamClientPool) throws -> Void) async throws {
        let pool = UpstreamClientPool(tls: .makeClientConfiguration())
        let outcome = Result { try body(pool) }
        for client in pool.detachClients() { try await client.shutdown() }
        try outcome.get()
    }

    @Test func aClientCarriesItsShareThenAnotherIsAdded() async throws {
        try await withPool { pool in
            var leases = (0..<UpstreamClientPool.requestsPerClient).map { _ in try! pool.lease() }
            #expect(pool.clientCount == 1 && pool.inFlight == UpstreamClientPool.requestsPerClient)
            #expect(Set(leases.map { ObjectIdentifier($0.client) }).count == 1)
            leases.append(try pool.lease())
            #expect(pool.clientCount == 2)
            #expect(ObjectIdentifier(leases.last!.client) != ObjectIdentifier(leases[0].client))
            // A released lease makes room on its client, which the next request uses (the least busy).
            leases[0].release()
            leases[0].release()  // twice is harmless
            #expect(pool.inFlight == UpstreamClientPool.requestsPerClient)
            let next = try pool.lease()
            #expect(ObjectIdentifier(next.client) == ObjectIdentifier(leases[1].client) || pool.clientCount == 2)
        }
    }

    @Test func aDroppedLeaseGivesItsRoomBack() async throws {
        try await withPool { pool in
            do { _ = try pool.lease() }
            #expect(pool.inFlight == 0)
        }
    }

    @Test func beyondTheBoundRequestsAreRefusedNotQueued() async throws {
        try await withPool { pool in
            let all = (0..<(UpstreamClientPool.requestsPerClient * UpstreamClientPool.maximumClients)).map { _ in try! pool.lease() }
            #expect(pool.clientCount == UpstreamClientPool.maximumClients)
            let refusal = #expect(throws: KubeStatus.self) { try pool.lease() }
            #expect(refusal?.status.code == 429 && refusal?.retryAfterSeconds != nil)
            _ = all
        }
    }

    @Test func idleExtraClientsAreTrimmedTheFirstStays() async throws {
        try await withPool { pool in
            let start = ContinuousClock.now
            var leases = (0...UpstreamClientPool.requestsPerClient).map { _ in try! pool.lease(now: start) }
            #expect(pool.clientCount == 2)
            pool.trim(idle: .seconds(60), now: start + .seconds(120))
            #expect(pool.clientCount == 2, "clients with requests in flight stay")
            leases.removeAll()
            pool.trim(idle: .seconds(60), now: start + .seconds(30))
            #expect(pool.clientCount == 2, "recently used clients stay")
            pool.trim(idle: .seconds(60), now: start + .seconds(120))
            #expect(pool.clientCount == 1)
        }
    }
}
