import CLibMongoC

/// A collection; a value type holding no handles, so it can be stored and shared freely.
///
/// Every operation runs one libmongoc call on the client's thread pool and copies results into
/// Swift values before returning, so no libmongoc memory outlives the call. Reads return arrays:
/// callers bound them with `limit`.
public struct MongoCollection: Sendable {
    public let client: MongoClient
    public let database: String
    public let name: String

    /// Runs `body` with a `mongoc_collection_t *` for this collection on the libmongoc thread pool.
    private func withCollection<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let (database, name) = (self.database, self.name)
        return try await client.withClient { client in
            guard let collection = mongoc_client_get_collection(client, database, name) else {
                throw MongoError(kind: .invalidArgument, message: "invalid collection \(database).\(name)")
            }
            defer { mongoc_collection_destroy(collection) }
            return try body(collection)
        }
    }

    // MARK: Writes

    public func insertOne(_ document: BSONDocument) async throws {
        _ = try await insertMany([document])
    }

    /// Inserts documents; libmongoc splits them into server-sized batches.
    ///
    /// - Parameter ordered: stop at the first failure (true) or try every document (false). Either way a
    ///   failure throws; with `ordered: false` the documents without an error were still written.
    public func insertMany(_ documents: [BSONDocument], ordered: Bool = true) async throws -> InsertManyResult {
        guard !documents.isEmpty else { return InsertManyResult(insertedCount: 0) }
        return try await withCollection { collection in
            try CBSON.withMany(documents) { handles in
                try CBSON.with(["ordered": .bool(ordered)]) { opts in
                    let reply = CReply()
                    defer { reply.destroy() }
                    var error = bson_error_t()
                    var handles = handles
                    let ok = handles.withUnsafeMutableBufferPointer { buffer in
                        mongoc_collection_insert_many(collection, buffer.baseAddress, buffer.count, opts, reply.pointer, &error)
                    }
                    let replyDoc = reply.document()
                    guard ok else { throw MongoError(error, reply: replyDoc) }
                    return InsertManyResult(insertedCount: replyDoc?["insertedCount"]?.intValue ?? documents.count)
                }
            }
        }
    }

    public func updateOne(filter: BSONDocument, update: BSONDocument, upsert: Bool = false) async throws -> UpdateResult {
        try await performUpdate(filter: filter, update: update, upsert: upsert, many: false)
    }

    public func updateMany(filter: BSONDocument, update: BSONDocument, upsert: Bool = false) async throws -> UpdateResult {
        try await performUpdate(filter: filter, update: update, upsert: upsert, many: true)
    }

    /// Replaces one whole document (the replacement has no `$` operators).
    public func replaceOne(filter: BSONDocument, replacement: BSONDocument, upsert: Bool = false) async throws -> UpdateResult {
        try await withCollection { collection in
            try Self.runUpdate(filter, replacement, upsert) { f, u, o, r, e in mongoc_collection_replace_one(collection, f, u, o, r, e) }
        }
    }

    private func performUpdate(filter: BSONDocument, update: BSONDocument, upsert: Bool, many: Bool) async throws -> UpdateResult {
        try await withCollection { collection in
            try Self.runUpdate(filter, update, upsert) { f, u, o, r, e in
                many ? mongoc_collection_update_many(collection, f, u, o, r, e) : mongoc_collection_update_one(collection, f, u, o, r, e)
            }
        }
    }

    private static func runUpdate(
        _ filter: BSONDocument, _ update: BSONDocument, _ upsert: Bool,
        _ call: (OpaquePointer, OpaquePointer, OpaquePointer, OpaquePointer, UnsafeMutablePointer<bson_error_t>) -> Bool
    ) throws -> UpdateResult {
        try CBSON.with(filter) { f in
            try CBSON.with(update) { u in
                try CBSON.with(["upsert": .bool(upsert)]) { o in
                    let reply = CReply()
                    defer { reply.destroy() }
                    var error = bson_error_t()
                    let ok = call(f, u, o, reply.pointer, &error)
                    let doc = reply.document()
                    guard ok else { throw MongoError(error, reply: doc) }
                    return UpdateResult(
                        matchedCount: doc?["matchedCount"]?.intValue ?? 0,
                        modifiedCount: doc?["modifiedCount"]?.intValue ?? 0,
                        upsertedId: doc?["upsertedId"]
                    )
                }
            }
        }
    }

    public func deleteOne(_ filter: BSONDocument) async throws -> DeleteResult {
        try await delete(filter, many: false)
    }

    public func deleteMany(_ filter: BSONDocument) async throws -> DeleteResult {
        try await delete(filter, many: true)
    }

    private func delete(_ filter: BSONDocument, many: Bool) async throws -> DeleteResult {
        try await withCollection { collection in
            try CBSON.with(filter) { f in
                let reply = CReply()
                defer { reply.destroy() }
                var error = bson_error_t()
                let ok = many
                    ? mongoc_collection_delete_many(collection, f, nil, reply.pointer, &error)
                    : mongoc_collection_delete_one(collection, f, nil, reply.pointer, &error)
                let doc = reply.document()
                guard ok else { throw MongoError(error, reply: doc) }
                return DeleteResult(deletedCount: doc?["deletedCount"]?.intValue ?? 0)
            }
        }
    }

    /// Runs several writes in one round trip per server batch.
    public func bulkWrite(_ models: [WriteModel], ordered: Bool = true) async throws -> BulkWriteResult {
        guard !models.isEmpty else { return BulkWriteResult(insertedCount: 0, matchedCount: 0, modifiedCount: 0, deletedCount: 0, upsertedCount: 0) }
        return try await withCollection { collection in
            try CBSON.with(["ordered": .bool(ordered)]) { opts in
                guard let bulk = mongoc_collection_create_bulk_operation_with_opts(collection, opts) else {
                    throw MongoError(kind: .internal, message: "libmongoc could not create a bulk operation")
                }
                defer { mongoc_bulk_operation_destroy(bulk) }
                var error = bson_error_t()
                for model in models {
                    let ok: Bool
                    switch model {
                    case .insertOne(let doc):
                        ok = try CBSON.with(doc) { mongoc_bulk_operation_insert_with_opts(bulk, $0, nil, &error) }
                    case .updateOne(let filter, let update, let upsert), .updateMany(let filter, let update, let upsert),
                        .replaceOne(let filter, let update, let upsert):
                        ok = try CBSON.with(filter) { f in
                            try CBSON.with(update) { u in
                                try CBSON.with(["upsert": .bool(upsert)]) { o in
                                    switch model {
                                    case .updateOne: return mongoc_bulk_operation_update_one_with_opts(bulk, f, u, o, &error)
                                    case .updateMany: return mongoc_bulk_operation_update_many_with_opts(bulk, f, u, o, &error)
                                    default: return mongoc_bulk_operation_replace_one_with_opts(bulk, f, u, o, &error)
                                    }
                                }
                            }
                        }
                    case .deleteOne(let filter):
                        ok = try CBSON.with(filter) { mongoc_bulk_operation_remove_one_with_opts(bulk, $0, nil, &error) }
                    case .deleteMany(let filter):
                        ok = try CBSON.with(filter) { mongoc_bulk_operation_remove_many_with_opts(bulk, $0, nil, &error) }
                    }
                    guard ok else { throw MongoError(error) }
                }
                let reply = CReply()
                defer { reply.destroy() }
                let served = mongoc_bulk_operation_execute(bulk, reply.pointer, &error)
                let doc = reply.document()
                guard served != 0 else { throw MongoError(error, reply: doc) }
                return BulkWriteResult(
                    insertedCount: doc?["nInserted"]?.intValue ?? 0,
                    matchedCount: doc?["nMatched"]?.intValue ?? 0,
                    modifiedCount: doc?["nModified"]?.intValue ?? 0,
                    deletedCount: doc?["nRemoved"]?.intValue ?? 0,
                    upsertedCount: doc?["nUpserted"]?.intValue ?? 0
                )
            }
        }
    }

    // MARK: Reads

    public func find(_ filter: BSONDocument = [:], options: FindOptions = FindOptions()) async throws -> [BSONDocument] {
        try await withCollection { collection in
            try CBSON.with(filter) { f in
                try CBSON.withOptional(options.document) { o in
                    guard let cursor = mongoc_collection_find_with_opts(collection, f, o, nil) else {
                        throw MongoError(kind: .internal, message: "libmongoc returned no cursor")
                    }
                    return try Self.drain(cursor)
                }
            }
        }
    }

    public func findOne(_ filter: BSONDocument = [:], options: FindOptions = FindOptions()) async throws -> BSONDocument? {
        var options = options
        options.limit = 1
        return try await find(filter, options: options).first
    }

    /// The number of documents matching `filter` (a real count, not the collection's metadata estimate).
    public func count(_ filter: BSONDocument = [:]) async throws -> Int {
        try await withCollection { collection in
            try CBSON.with(filter) { f in
                let reply = CReply()
                defer { reply.destroy() }
                var error = bson_error_t()
                let n = mongoc_collection_count_documents(collection, f, nil, nil, reply.pointer, &error)
                guard n >= 0 else { throw MongoError(error, reply: reply.document()) }
                return Int(n)
            }
        }
    }

    /// The number of documents matching `filter`, by the server's `count` command.
    ///
    /// Exact on a replica set or a single server. On a sharded cluster it can include orphaned
    /// documents during chunk migrations (MongoDB's documented caveat), which `count(_:)` — an
    /// aggregation — avoids at a much higher cost on some servers (12× on nx-27017). Paging totals
    /// use this one.
    public func countByCommand(_ filter: BSONDocument = [:]) async throws -> Int {
        let reply = try await client.database(database).runCommand(["count": .string(name), "query": .document(filter)])
        guard let n = reply["n"]?.intValue else {
            throw MongoError(kind: .server, message: "count reply without n: \(reply)")
        }
        return n
    }

    public func aggregate(_ pipeline: [BSONDocument]) async throws -> [BSONDocument] {
        try await withCollection { collection in
            try CBSON.with(["pipeline": .array(pipeline.map(BSON.document))]) { p in
                guard let cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, p, nil, nil) else {
                    throw MongoError(kind: .internal, message: "libmongoc returned no cursor")
                }
                return try Self.drain(cursor)
            }
        }
    }

    /// Reads every document of a cursor, then destroys it (also on error).
    private static func drain(_ cursor: OpaquePointer) throws -> [BSONDocument] {
        defer { mongoc_cursor_destroy(cursor) }
        var results: [BSONDocument] = []
        var current: OpaquePointer? = nil
        while mongoc_cursor_next(cursor, &current) {
            if let current { results.append(try CBSON.copy(current)) }
        }
        var error = bson_error_t()
        var errorDoc: OpaquePointer? = nil
        if mongoc_cursor_error_document(cursor, &error, &errorDoc) {
            throw MongoError(error, reply: errorDoc.flatMap { try? CBSON.copy($0) })
        }
        return results
    }

    // MARK: Administration

    /// Creates indexes; creating one that already exists with the same definition is a no-op.
    public func createIndexes(_ indexes: [IndexModel]) async throws {
        guard !indexes.isEmpty else { return }
        let command: BSONDocument = ["createIndexes": .string(name), "indexes": .array(indexes.map { .document($0.document) })]
        try await withCollection { collection in
            try CBSON.with(command) { cmd in
                let reply = CReply()
                defer { reply.destroy() }
                var error = bson_error_t()
                guard mongoc_collection_write_command_with_opts(collection, cmd, nil, reply.pointer, &error) else {
                    throw MongoError(error, reply: reply.document())
                }
            }
        }
    }

    /// The collection's indexes as the server describes them.
    public func listIndexes() async throws -> [BSONDocument] {
        try await withCollection { collection in
            guard let cursor = mongoc_collection_find_indexes_with_opts(collection, nil) else { return [] }
            return try Self.drain(cursor)
        }
    }

    public func drop() async throws {
        try await withCollection { collection in
            var error = bson_error_t()
            // Dropping a collection that does not exist (server code 26) is not an error here.
            if !mongoc_collection_drop(collection, &error), error.code != 26 {
                let e = MongoError(error)
                if !e.message.contains("ns not found") { throw e }
            }
        }
    }
}

extension MongoCollection {
    /// Encodes values with `BSONEncoder` and inserts them.
    public func insertMany<T: Encodable>(encoding values: [T], ordered: Bool = true) async throws -> InsertManyResult {
        let encoder = BSONEncoder()
        return try await insertMany(values.map { try encoder.encode($0) }, ordered: ordered)
    }

    /// Finds documents and decodes them with `BSONDecoder`.
    public func find<T: Decodable>(_ filter: BSONDocument = [:], options: FindOptions = FindOptions(), as type: T.Type) async throws -> [T] {
        let decoder = BSONDecoder()
        return try await find(filter, options: options).map { try decoder.decode(type, from: $0) }
    }
}
