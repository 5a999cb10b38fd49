import BCSTestSupport
import Foundation
import Testing

@testable import BCSMongo

/// What the layer does when its server goes away: a prompt error, then recovery.
///
/// Each test runs its own nx-27017 so it can kill or freeze it without disturbing other tests.
@Suite("MongoDB outages")
struct MongoOutageTests {
    /// Short timeouts so an outage surfaces quickly; the bound the test checks is derived from them.
    static let options = "serverSelectionTimeoutMS=1500&connectTimeoutMS=1000&socketTimeoutMS=1500"
    static let bound: Duration = .seconds(6)

    @Test func killedServerYieldsErrorWithinTimeoutThenRecovers() async throws {
        let server = try NXServer()
        try await server.start()
        let client = try MongoClient(uri: MongoURI(server.uri(options: Self.options)), threads: 4)
        let collection = client.database("outage").collection("events")
        try await collection.insertOne(["n": 1])

        await server.kill()
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: MongoError.self) { try await collection.insertOne(["n": 2]) }
        #expect(clock.now - start < Self.bound, "the error came within the configured timeouts")
        #expect(error?.isTransient == true, "a lost server is a transient error, got \(String(describing: error))")

        // A second operation while it is still down also fails promptly (no hang on a dead pool).
        let start2 = clock.now
        await #expect(throws: MongoError.self) { try await client.ping() }
        #expect(clock.now - start2 < Self.bound)

        try await server.start()
        try await Self.eventuallySucceeds { try await collection.insertOne(["n": 3]) }
        #expect(try await collection.count(["n": 3]) == 1)
        await client.shutdown()
        await server.kill()
    }

    @Test func frozenServerTimesOutThenRecovers() async throws {
        let server = try NXServer()
        try await server.start()
        let client = try MongoClient(uri: MongoURI(server.uri(options: Self.options)), threads: 4)
        let collection = client.database("outage").collection("frozen")
        try await collection.insertOne(["n": 1])

        server.freeze()
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: MongoError.self) { _ = try await collection.find(["n": 1]) }
        #expect(clock.now - start < Self.bound, "a hung server surfaces as an error within socketTimeoutMS")
        #expect(error?.isTransient == true, "got \(String(describing: error))")

        server.thaw()
        try await Self.eventuallySucceeds { _ = try await collection.find(["n": 1]) }
        await client.shutdown()
        await server.kill()
    }

    static func eventuallySucceeds(within limit: Duration = .seconds(20), _ operation: () async throws -> Void) async throws {
        let deadline = ContinuousClock.now + limit
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                try await operation()
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        Issue.record("operation did not succeed again within \(limit): \(String(describing: lastError))")
    }
}
