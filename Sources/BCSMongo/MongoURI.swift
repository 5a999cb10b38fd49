import CLibMongoC

/// A parsed, validated MongoDB connection string.
///
/// Parsing happens when the configuration is read so a malformed URI stops start-up with one clear
/// line, instead of surfacing later as a failed request. Timeouts the URI leaves unset get defaults
/// suited to a request-serving process: libmongoc's own (30 s server selection, 5 min socket) would let
/// a request hang for minutes while the database is away.
public struct MongoURI: Sendable, CustomStringConvertible {
    /// The connection string with the defaults applied (credentials included; never log it).
    public let string: String
    /// The hosts, for logs and errors (no credentials).
    public let hosts: [String]

    public static let defaultTimeouts: [(option: String, milliseconds: Int32)] = [
        (MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5_000),
        (MONGOC_URI_CONNECTTIMEOUTMS, 3_000),
        (MONGOC_URI_SOCKETTIMEOUTMS, 30_000),
    ]

    public init(_ text: String) throws {
        MongocRuntime.ensureInitialised()
        guard text.hasPrefix("mongodb://") || text.hasPrefix("mongodb+srv://") else {
            throw MongoError(kind: .invalidArgument, message: "a MongoDB URI starts with mongodb:// or mongodb+srv://")
        }
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(text, &error) else {
            throw MongoError(kind: .invalidArgument, message: MongoError(error).message)
        }
        defer { mongoc_uri_destroy(uri) }
        for (option, ms) in Self.defaultTimeouts where mongoc_uri_get_option_as_int32(uri, option, -1) < 0 {
            _ = mongoc_uri_set_option_as_int32(uri, option, ms)
        }
        var hosts: [String] = []
        var host = mongoc_uri_get_hosts(uri)
        while let h = host {
            hosts.append(withUnsafeBytes(of: h.pointee.host_and_port) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
            host = UnsafePointer(h.pointee.next)
        }
        self.string = String(cString: mongoc_uri_get_string(uri))
        self.hosts = hosts
    }

    /// The URI without credentials or options, safe for logs.
    public var description: String { "mongodb://" + (hosts.isEmpty ? "(srv)" : hosts.joined(separator: ",")) }
}
