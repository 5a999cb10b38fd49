import CLibMongoC

/// Bridges Swift `BSONDocument`s to libbson's `bson_t` at call boundaries.
///
/// Documents stay Swift-owned; a `bson_t` exists only for the duration of one libmongoc call.
/// Debian's libbson is built with `BSON_EXTRA_ALIGN=1`, so `bson_t` is 128 bytes, 128-byte aligned,
/// and every `bson_t *` imports as `OpaquePointer`: never take the address of a Swift `bson_t` value.
enum CBSON {
    /// Size and alignment of `bson_t` under `BSON_EXTRA_ALIGN` (see bson-types.h).
    static let storageSize = 128
    static let storageAlignment = 128

    /// Runs `body` with a temporary heap `bson_t` holding `document`, destroyed afterwards.
    static func with<R>(_ document: BSONDocument, _ body: (OpaquePointer) throws -> R) throws -> R {
        let bytes = try document.bsonBytes()
        guard let handle = bytes.withUnsafeBufferPointer({ bson_new_from_data($0.baseAddress, $0.count) }) else {
            throw MongoError(kind: .invalidDocument, message: "libbson refused a \(bytes.count)-byte document")
        }
        defer { bson_destroy(handle) }
        return try body(handle)
    }

    /// As `with`, but passes `nil` when there is no document (libmongoc's "no options").
    static func withOptional<R>(_ document: BSONDocument?, _ body: (OpaquePointer?) throws -> R) throws -> R {
        guard let document, !document.isEmpty else { return try body(nil) }
        return try with(document) { try body($0) }
    }

    /// Runs `body` with heap `bson_t`s for each document, all destroyed afterwards.
    static func withMany<R>(_ documents: [BSONDocument], _ body: ([OpaquePointer?]) throws -> R) throws -> R {
        var handles: [OpaquePointer?] = []
        handles.reserveCapacity(documents.count)
        defer { for handle in handles { bson_destroy(handle) } }
        for document in documents {
            let bytes = try document.bsonBytes()
            guard let handle = bytes.withUnsafeBufferPointer({ bson_new_from_data($0.baseAddress, $0.count) }) else {
                throw MongoError(kind: .invalidDocument, message: "libbson refused a \(bytes.count)-byte document")
            }
            handles.append(handle)
        }
        return try body(handles)
    }

    /// Copies a libbson-owned document into Swift.
    static func copy(_ handle: OpaquePointer) throws -> BSONDocument {
        let length = Int(bcs_bson_len(handle))
        guard let data = bson_get_data(handle) else { return BSONDocument() }
        return try BSONDocument(bsonBytes: UnsafeRawBufferPointer(start: data, count: length))
    }
}

/// Aligned storage for a `bson_t` that libmongoc initialises as an out-parameter (a reply).
///
/// libmongoc always initialises reply out-parameters, even on failure, so the reply is always
/// destroyed: create it, pass `pointer`, then call `destroy()` exactly once.
struct CReply {
    let raw: UnsafeMutableRawPointer

    init() {
        raw = .allocate(byteCount: CBSON.storageSize, alignment: CBSON.storageAlignment)
        bson_init(OpaquePointer(raw))
    }

    var pointer: OpaquePointer { OpaquePointer(raw) }

    func document() -> BSONDocument? { try? CBSON.copy(pointer) }

    func destroy() {
        bson_destroy(pointer)
        raw.deallocate()
    }
}
