import BCSMongo
import ServiceLifecycle

/// Owns the process's `MongoClient` for the life of the service group.
///
/// It is first in the root group, so graceful shutdown (which runs in reverse order) reaches it
/// last: every role has stopped using the database before the pool is destroyed.
struct MongoClientService: Service {
    let client: MongoClient

    func run() async throws {
        try? await gracefulShutdown()
        await client.shutdown()
    }
}
