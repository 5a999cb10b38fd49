import CLibMongoC

/// An error from the MongoDB layer, classified so callers can react without parsing messages.
public struct MongoError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A unique index rejected the write (server code 11000).
        case duplicateKey
        /// The connection failed or was closed by the server.
        case network
        /// The server did not answer within the socket timeout.
        case timeout
        /// No usable server was found within `serverSelectionTimeoutMS`.
        case serverSelection
        /// A document or command could not be encoded or was rejected as malformed.
        case invalidDocument
        /// The URI or an option was invalid.
        case invalidArgument
        case authentication
        /// Any other error reported by the server (with its `code`).
        case server
        /// The client was shut down.
        case closed
        case `internal`
    }

    public let kind: Kind
    /// libmongoc's error domain (`mongoc_error_domain_t`), 0 when raised by this layer.
    public let domain: UInt32
    /// libmongoc's or the server's error code.
    public let code: UInt32
    public let message: String
    /// Per-document failures of a bulk or multi-document write (empty for other errors).
    public let writeErrors: [WriteErrorDetail]
    /// What a failed unordered bulk write still did, from the server's reply.
    public let partialResult: BulkWriteResult?

    /// One document's failure within a multi-document write.
    public struct WriteErrorDetail: Sendable, Equatable {
        /// The position of the operation in the request.
        public let index: Int
        public let code: Int
        public let message: String

        public var isDuplicateKey: Bool { MongoError.duplicateKeyCodes.contains(UInt32(truncatingIfNeeded: code)) }
    }

    public init(kind: Kind, domain: UInt32 = 0, code: UInt32 = 0, message: String, writeErrors: [WriteErrorDetail] = [], partialResult: BulkWriteResult? = nil) {
        self.kind = kind
        self.domain = domain
        self.code = code
        self.message = message
        self.writeErrors = writeErrors
        self.partialResult = partialResult
    }

    public var description: String { "MongoDB \(kind.rawValue) error (\(domain).\(code)): \(message)" }

    /// Whether retrying the same operation later can succeed (the server was away or slow).
    public var isTransient: Bool { kind == .network || kind == .timeout || kind == .serverSelection }

    static let duplicateKeyCodes: Set<UInt32> = [11000, 11001, 12582]

    /// Classifies a `bson_error_t` filled by libmongoc (error API version 2), consulting the reply's
    /// `writeErrors` for bulk operations, whose top-level code can hide a duplicate key.
    init(_ error: bson_error_t, reply: BSONDocument? = nil) {
        let message = withUnsafeBytes(of: error.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let domain = error.domain
        var code = error.code
        let details: [WriteErrorDetail] = (reply?["writeErrors"]?.arrayValue ?? []).compactMap { entry in
            guard let doc = entry.documentValue else { return nil }
            return WriteErrorDetail(
                index: doc["index"]?.intValue ?? -1,
                code: doc["code"]?.intValue ?? 0,
                message: doc["errmsg"]?.stringValue ?? ""
            )
        }
        if let dup = details.first(where: \.isDuplicateKey) {
            code = UInt32(dup.code)
        }
        var partial: BulkWriteResult?
        if let reply, reply["nInserted"] != nil || reply["nUpserted"] != nil {
            partial = BulkWriteResult(
                insertedCount: reply["nInserted"]?.intValue ?? 0,
                matchedCount: reply["nMatched"]?.intValue ?? 0,
                modifiedCount: reply["nModified"]?.intValue ?? 0,
                deletedCount: reply["nRemoved"]?.intValue ?? 0,
                upsertedCount: reply["nUpserted"]?.intValue ?? 0
            )
        }
        let kind: Kind
        switch domain {
        case UInt32(MONGOC_ERROR_SERVER.rawValue), UInt32(MONGOC_ERROR_WRITE_CONCERN.rawValue),
            UInt32(MONGOC_ERROR_QUERY.rawValue), UInt32(MONGOC_ERROR_COLLECTION.rawValue):
            if Self.duplicateKeyCodes.contains(code) {
                kind = .duplicateKey
            } else if domain == UInt32(MONGOC_ERROR_SERVER.rawValue) || domain == UInt32(MONGOC_ERROR_QUERY.rawValue) {
                kind = .server
            } else {
                kind = .internal
            }
        case UInt32(MONGOC_ERROR_SERVER_SELECTION.rawValue):
            kind = .serverSelection
        case UInt32(MONGOC_ERROR_STREAM.rawValue), UInt32(MONGOC_ERROR_PROTOCOL.rawValue):
            let lower = message.lowercased()
            kind = lower.contains("timeout") || lower.contains("timed out") ? .timeout : .network
        case UInt32(MONGOC_ERROR_BSON.rawValue):
            kind = .invalidDocument
        case UInt32(MONGOC_ERROR_COMMAND.rawValue):
            kind = code == UInt32(MONGOC_ERROR_COMMAND_INVALID_ARG.rawValue) ? .invalidArgument : .server
        case UInt32(MONGOC_ERROR_CLIENT.rawValue), UInt32(MONGOC_ERROR_SASL.rawValue), UInt32(MONGOC_ERROR_SCRAM.rawValue):
            kind = code == UInt32(MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue) || domain != UInt32(MONGOC_ERROR_CLIENT.rawValue)
                ? .authentication : .network
        default:
            kind = .internal
        }
        self.init(kind: kind, domain: domain, code: code, message: message, writeErrors: details, partialResult: partial)
    }
}
