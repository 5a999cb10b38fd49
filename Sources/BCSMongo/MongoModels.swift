/// Options for `find`: everything MongoDB's `find` command takes that the product uses.
public struct FindOptions: Sendable {
    public var sort: BSONDocument?
    public var skip: Int?
    public var limit: Int?
    public var projection: BSONDocument?
    /// Hint for the server, e.g. to force an index in tests.
    public var hint: BSONDocument?

    public init(sort: BSONDocument? = nil, skip: Int? = nil, limit: Int? = nil, projection: BSONDocument? = nil, hint: BSONDocument? = nil) {
        self.sort = sort
        self.skip = skip
        self.limit = limit
        self.projection = projection
        self.hint = hint
    }

    var document: BSONDocument {
        var opts = BSONDocument()
        if let sort { opts["sort"] = .document(sort) }
        if let skip, skip > 0 { opts["skip"] = .int64(Int64(skip)) }
        if let limit, limit > 0 { opts["limit"] = .int64(Int64(limit)) }
        if let projection { opts["projection"] = .document(projection) }
        if let hint { opts["hint"] = .document(hint) }
        return opts
    }
}

public struct InsertManyResult: Sendable, Equatable {
    public let insertedCount: Int
}

public struct UpdateResult: Sendable, Equatable {
    public let matchedCount: Int
    public let modifiedCount: Int
    /// The `_id` of the document an upsert created, if it created one.
    public let upsertedId: BSON?
}

public struct DeleteResult: Sendable, Equatable {
    public let deletedCount: Int
}

public struct BulkWriteResult: Sendable, Equatable {
    public let insertedCount: Int
    public let matchedCount: Int
    public let modifiedCount: Int
    public let deletedCount: Int
    public let upsertedCount: Int
}

/// One operation of a bulk write.
public enum WriteModel: Sendable {
    case insertOne(BSONDocument)
    case updateOne(filter: BSONDocument, update: BSONDocument, upsert: Bool = false)
    case updateMany(filter: BSONDocument, update: BSONDocument, upsert: Bool = false)
    case replaceOne(filter: BSONDocument, replacement: BSONDocument, upsert: Bool = false)
    case deleteOne(BSONDocument)
    case deleteMany(BSONDocument)
}

/// An index to create; `name` defaults to MongoDB's convention (`field_1_other_-1`).
public struct IndexModel: Sendable {
    public var keys: BSONDocument
    public var name: String?
    public var unique: Bool
    /// A TTL index: documents expire this many seconds after the date in the (single) key field.
    public var expireAfterSeconds: Int?
    public var partialFilter: BSONDocument?

    public init(keys: BSONDocument, name: String? = nil, unique: Bool = false, expireAfterSeconds: Int? = nil, partialFilter: BSONDocument? = nil) {
        self.keys = keys
        self.name = name
        self.unique = unique
        self.expireAfterSeconds = expireAfterSeconds
        self.partialFilter = partialFilter
    }

    var resolvedName: String {
        name ?? keys.elements.map { "\($0.key)_\($0.value.intValue.map(String.init) ?? $0.value.stringValue ?? "1")" }.joined(separator: "_")
    }

    var document: BSONDocument {
        var doc: BSONDocument = ["key": .document(keys), "name": .string(resolvedName)]
        if unique { doc["unique"] = true }
        if let expireAfterSeconds { doc["expireAfterSeconds"] = .int32(Int32(clamping: expireAfterSeconds)) }
        if let partialFilter { doc["partialFilterExpression"] = .document(partialFilter) }
        return doc
    }
}
