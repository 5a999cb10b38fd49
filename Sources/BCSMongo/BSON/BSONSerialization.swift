/// Raised when bytes are not a well-formed BSON document, or a value cannot be written as BSON.
public struct BSONError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invalid BSON: \(message)" }
}

// MARK: - Writing

extension BSONDocument {
    /// The document in BSON's binary form (little-endian, length-prefixed, NUL-terminated).
    public func bsonBytes() throws -> [UInt8] {
        var writer = BSONWriter()
        writer.bytes.reserveCapacity(256)
        try writer.writeDocument(elements)
        return writer.bytes
    }
}

private struct BSONWriter {
    var bytes: [UInt8] = []

    mutating func writeDocument<C: Collection>(_ elements: C) throws where C.Element == (key: String, value: BSON) {
        let start = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        for element in elements {
            try writeElement(key: element.key, value: element.value)
        }
        bytes.append(0)
        patchLength(at: start)
    }

    mutating func writeArray(_ values: [BSON]) throws {
        let start = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        for (index, value) in values.enumerated() {
            try writeElement(key: String(index), value: value)
        }
        bytes.append(0)
        patchLength(at: start)
    }

    mutating func patchLength(at start: Int) {
        let length = UInt32(bytes.count - start)
        bytes[start] = UInt8(length & 0xFF)
        bytes[start + 1] = UInt8((length >> 8) & 0xFF)
        bytes[start + 2] = UInt8((length >> 16) & 0xFF)
        bytes[start + 3] = UInt8(length >> 24)
    }

    mutating func writeElement(key: String, value: BSON) throws {
        bytes.append(value.typeByte)
        try writeCString(key)
        switch value {
        case .double(let d): writeLE(d.bitPattern)
        case .string(let s): writeString(s)
        case .document(let doc): try writeDocument(doc.elements)
        case .array(let values): try writeArray(values)
        case .binary(let subtype, let data):
            writeLE(UInt32(data.count))
            bytes.append(subtype)
            bytes.append(contentsOf: data)
        case .objectId(let id): bytes.append(contentsOf: id.bytes)
        case .bool(let b): bytes.append(b ? 1 : 0)
        case .datetime(let ms): writeLE(UInt64(bitPattern: ms))
        case .null: break
        case .int32(let v): writeLE(UInt32(bitPattern: v))
        case .timestamp(let v): writeLE(v)
        case .int64(let v): writeLE(UInt64(bitPattern: v))
        case .opaque(_, let payload): bytes.append(contentsOf: payload)
        }
    }

    mutating func writeCString(_ s: String) throws {
        let utf8 = s.utf8
        if utf8.contains(0) { throw BSONError("key \"\(s.replacingNULs())\" contains a NUL byte") }
        bytes.append(contentsOf: utf8)
        bytes.append(0)
    }

    mutating func writeString(_ s: String) {
        let utf8 = s.utf8
        writeLE(UInt32(utf8.count + 1))
        bytes.append(contentsOf: utf8)
        bytes.append(0)
    }

    mutating func writeLE<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

extension String {
    fileprivate func replacingNULs() -> String {
        String(decoding: utf8.map { $0 == 0 ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}

// MARK: - Reading

extension BSONDocument {
    /// Parses one BSON document; the bytes must hold exactly that document.
    public init(bsonBytes bytes: UnsafeRawBufferPointer) throws {
        var reader = BSONReader(buffer: bytes)
        self = try reader.readDocument(depth: 0)
        guard reader.offset == bytes.count else { throw BSONError("\(bytes.count - reader.offset) trailing bytes") }
    }

    public init(bsonBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try BSONDocument(bsonBytes: $0) }
    }
}

private struct BSONReader {
    let buffer: UnsafeRawBufferPointer
    var offset = 0
    /// Nesting deeper than MongoDB's own limit (100) is refused rather than recursed into.
    static let maxDepth = 128

    init(buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    mutating func need(_ n: Int) throws {
        guard n >= 0, offset + n <= buffer.count else { throw BSONError("truncated at byte \(offset)") }
    }

    mutating func readLE<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + MemoryLayout<T>.size]))
        }
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readBytes(_ n: Int) throws -> [UInt8] {
        try need(n)
        let out = [UInt8](buffer[offset..<offset + n])
        offset += n
        return out
    }

    mutating func readCString() throws -> String {
        var end = offset
        while end < buffer.count, buffer[end] != 0 { end += 1 }
        guard end < buffer.count else { throw BSONError("unterminated key at byte \(offset)") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[offset..<end]), as: UTF8.self)
        offset = end + 1
        return s
    }

    mutating func readString() throws -> String {
        let length = Int(try readLE(Int32.self))
        guard length >= 1 else { throw BSONError("bad string length \(length)") }
        try need(length)
        guard buffer[offset + length - 1] == 0 else { throw BSONError("string not NUL-terminated") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length - 1]), as: UTF8.self)
        offset += length
        return s
    }

    /// Reads a length-prefixed element list, checking the prefix against where it ends.
    mutating func readElements(depth: Int, _ body: (String, BSON) -> Void) throws {
        guard depth <= Self.maxDepth else { throw BSONError("nesting deeper than \(Self.maxDepth)") }
        let start = offset
        let length = Int(try readLE(Int32.self))
        guard length >= 5 else { throw BSONError("bad document length \(length)") }
        try need(length - 4)
        let end = start + length
        while true {
            guard offset < end else { throw BSONError("document overruns its length") }
            let type = buffer[offset]
            offset += 1
            if type == 0 { break }
            let key = try readCString()
            body(key, try readValue(type: type, depth: depth))
        }
        guard offset == end else { throw BSONError("document length \(length) does not match its content") }
    }

    mutating func readDocument(depth: Int) throws -> BSONDocument {
        var doc = BSONDocument()
        try readElements(depth: depth) { doc.append($0, $1) }
        return doc
    }

    mutating func readValue(type: UInt8, depth: Int) throws -> BSON {
        switch type {
        case 0x01: return .double(Double(bitPattern: try readLE(UInt64.self)))
        case 0x02: return .string(try readString())
        case 0x03: return .document(try readDocument(depth: depth + 1))
        case 0x04:
            var values: [BSON] = []
            try readElements(depth: depth + 1) { values.append($1) }
            return .array(values)
        case 0x05:
            let length = Int(try readLE(Int32.self))
            guard length >= 0 else { throw BSONError("bad binary length") }
            let subtype = try readBytes(1)[0]
            return .binary(subtype: subtype, bytes: try readBytes(length))
        case 0x07: return .objectId(ObjectId(bytes: try readBytes(12))!)
        case 0x08:
            let b = try readBytes(1)[0]
            guard b <= 1 else { throw BSONError("bad boolean \(b)") }
            return .bool(b == 1)
        case 0x09: return .datetime(try readLE(Int64.self))
        case 0x0A: return .null
        case 0x10: return .int32(try readLE(Int32.self))
        case 0x11: return .timestamp(try readLE(UInt64.self))
        case 0x12: return .int64(try readLE(Int64.self))
        default:
            let start = offset
            try skipOpaque(type: type)
            return .opaque(type: type, payload: [UInt8](buffer[start..<offset]))
        }
    }

    /// Moves past the payload of a type this layer keeps opaque.
    mutating func skipOpaque(type: UInt8) throws {
        switch type {
        case 0x06, 0x7F, 0xFF: break                                  // undefined, maxKey, minKey
        case 0x0B: _ = try readCString(); _ = try readCString()        // regex
        case 0x0C: _ = try readString(); _ = try readBytes(12)         // DBPointer
        case 0x0D, 0x0E: _ = try readString()                          // code, symbol
        case 0x0F:                                                     // code with scope
            let length = Int(try readLE(Int32.self))
            guard length >= 4 else { throw BSONError("bad code-with-scope length") }
            _ = try readBytes(length - 4)
        case 0x13: _ = try readBytes(16)                               // decimal128
        default: throw BSONError("unknown element type 0x\(String(type, radix: 16))")
        }
    }
}
