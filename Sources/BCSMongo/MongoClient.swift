import CLibMongoC
import Logging
import NIOPosix
import Synchronization

/// A pool of libmongoc clients whose blocking calls run on a dedicated thread pool.
///
/// libmongoc is synchronous. Each operation borrows one `mongoc_client_t` from a
/// `mongoc_client_pool_t` on a thread of this client's own `NIOThreadPool`, so no event loop and no
/// thread of Swift's cooperative pool ever blocks on the network. Clients are taken with
/// `try_pop` and the operation is resubmitted when the pool is momentarily empty, never parking a
/// thread on `pop` (the deadlock the official Swift driver hit, SWIFT-750).
public final class MongoClient: Sendable {
    /// `mongoc_client_pool_t *`. Invariant: used only through libmongoc's thread-safe pool functions
    /// (`try_pop`/`push`) until `shutdown()`, which destroys it exactly once after the thread pool stopped.
    private let pool: PoolHandle
    private let threads: NIOThreadPool
    private let closed = Atomic<Bool>(false)
    public let uri: MongoURI
    let logger: Logger

    /// Connects lazily: creating the client does no network I/O, the first operation does.
    ///
    /// - Parameters:
    ///   - uri: the validated connection string.
    ///   - threads: how many libmongoc calls may run at once (also the number of pooled clients in use).
    public init(uri: MongoURI, threads: Int = 8, logger: Logger = Logger(label: "bcs.mongo")) throws {
        MongocRuntime.ensureInitialised()
        var error = bson_error_t()
        guard let cURI = mongoc_uri_new_with_error(uri.string, &error) else {
            throw MongoError(error)
        }
        defer { mongoc_uri_destroy(cURI) }
        guard let handle = mongoc_client_pool_new_with_error(cURI, &error) else {
            throw MongoError(error)
        }
        _ = mongoc_client_pool_set_error_api(handle, Int32(MONGOC_ERROR_API_VERSION_2))
        _ = mongoc_client_pool_set_appname(handle, "bcs")
        mongoc_client_pool_max_size(handle, UInt32(max(threads, 1)) * 2)
        self.pool = PoolHandle(handle)
        self.threads = NIOThreadPool(numberOfThreads: max(threads, 1))
        self.threads.start()
        self.uri = uri
        self.logger = logger
    }

    /// Handles to a database and its collections; no I/O.
    public func database(_ name: String) -> MongoDatabase { MongoDatabase(client: self, name: name) }

    /// Round-trips a `ping` command to the server.
    public func ping() async throws {
        try await withClient { client in
            try CBSON.with(["ping": 1]) { command in
                let reply = CReply()
                defer { reply.destroy() }
                var error = bson_error_t()
                guard mongoc_client_command_simple(client, "admin", command, nil, reply.pointer, &error) else {
                    throw MongoError(error, reply: reply.document())
                }
            }
        }
    }

    /// Runs `body` with a pooled `mongoc_client_t *` on the libmongoc thread pool.
    ///
    /// The handle must not escape `body`: it goes back to the pool as soon as `body` returns.
    func withClient<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        while true {
            guard !closed.load(ordering: .acquiring) else {
                throw MongoError(kind: .closed, message: "the MongoDB client was shut down")
            }
            let pool = self.pool
            let attempt: Attempt<T>
            do {
                attempt = try await threads.runIfActive {
                    guard let client = mongoc_client_pool_try_pop(pool.handle) else { return .retry }
                    defer { mongoc_client_pool_push(pool.handle, client) }
                    return .done(try body(client))
                }
            } catch is NIOThreadPoolError.ThreadPoolInactive {
                throw MongoError(kind: .closed, message: "the MongoDB client was shut down")
            }
            switch attempt {
            case .done(let value): return value
            case .retry: try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// Stops accepting operations, waits for running ones, and frees libmongoc's resources.
    public func shutdown() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await threads.shutdownGracefully()
        mongoc_client_pool_destroy(pool.handle)
    }

    private enum Attempt<T: Sendable>: Sendable {
        case done(T)
        case retry
    }
}

/// Wraps the pool pointer so it can cross into thread-pool closures.
///
/// Invariant: libmongoc documents `mongoc_client_pool_t` as thread-safe for pop/push; the only
/// non-thread-safe call, `destroy`, is made once by `MongoClient.shutdown()` after all work ended.
struct PoolHandle: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
}

/// A named database; a value type holding no handles.
public struct MongoDatabase: Sendable {
    public let client: MongoClient
    public let name: String

    public func collection(_ name: String) -> MongoCollection {
        MongoCollection(client: client, database: self.name, name: name)
    }

    /// Runs a database command and returns the server's reply.
    public func runCommand(_ command: BSONDocument) async throws -> BSONDocument {
        let dbName = name
        return try await client.withClient { client in
            try CBSON.with(command) { cmd in
                let reply = CReply()
                defer { reply.destroy() }
                var error = bson_error_t()
                guard mongoc_client_command_simple(client, dbName, cmd, nil, reply.pointer, &error) else {
                    throw MongoError(error, reply: reply.document())
                }
                return reply.document() ?? BSONDocument()
            }
        }
    }

    public func drop() async throws {
        _ = try await runCommand(["dropDatabase": 1])
    }
}
