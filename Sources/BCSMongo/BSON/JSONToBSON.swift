/// Parses JSON text straight into a `BSON` value, keeping object key order.
///
/// Request bodies (Kubernetes objects, events) go to MongoDB as BSON. Going through Foundation's
/// `JSONDecoder` and `Codable` loses key order and costs several allocations per value; this
/// single-pass parser does neither. Integers that fit become int32, larger ones int64, others
/// double. Nesting is limited to 128 levels; errors name the byte offset.
public enum JSONToBSON {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    public static let maxDepth = 128

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> BSON {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw parser.error("unexpected data after the value") }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws -> BSON {
        try bytes.withUnsafeBytes { try parse($0) }
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ reason: String) -> ParseError { ParseError(offset: offset, reason: reason) }

        var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: StaticString, _ value: BSON) throws -> BSON {
            let count = literal.utf8CodeUnitCount
            guard offset + count <= bytes.count else { throw error("truncated literal") }
            for i in 0..<count where bytes[offset + i] != literal.utf8Start[i] { throw error("invalid literal") }
            offset += count
            return value
        }

        mutating func value(depth: Int) throws -> BSON {
            guard let c = current else { throw error("unexpected end of input") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected character '\(Character(Unicode.Scalar(c)))'")
            }
        }

        mutating func object(depth: Int) throws -> BSON {
            guard depth <= JSONToBSON.maxDepth else { throw error("nesting deeper than \(JSONToBSON.maxDepth)") }
            offset += 1
            var document = BSONDocument()
            // Past a few keys, a set finds repeated keys without a quadratic scan.
            var seen: Set<String>?
            skipWhitespace()
            if current == UInt8(ascii: "}") { offset += 1; return .document(document) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                offset += 1
                skipWhitespace()
                let v = try value(depth: depth)
                // A repeated key keeps the last value, as most JSON parsers do.
                if document.count < 16 {
                    document[key] = v
                } else {
                    if seen == nil { seen = Set(document.keys) }
                    if seen!.insert(key).inserted { document.append(key, v) } else { document[key] = v }
                }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"): offset += 1; return .document(document)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws -> BSON {
            guard depth <= JSONToBSON.maxDepth else { throw error("nesting deeper than \(JSONToBSON.maxDepth)") }
            offset += 1
            var values: [BSON] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { offset += 1; return .array(values) }
            while true {
                skipWhitespace()
                values.append(try value(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"): offset += 1; return .array(values)
                default: throw error("expected ',' or ']'")
                }
            }
        }

        mutating func string() throws -> String {
            offset += 1
            let start = offset
            // Fast path: no escapes.
            while offset < bytes.count {
                let c = bytes[offset]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
                    offset += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw error("control character in string") }
                offset += 1
            }
            var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<offset]))
            while offset < bytes.count {
                let c = bytes[offset]
                switch c {
                case UInt8(ascii: "\""):
                    offset += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    offset += 1
                    guard let e = current else { throw error("unterminated escape") }
                    offset += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                                throw error("unpaired surrogate")
                            }
                            offset += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("unpaired surrogate")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("invalid code point") }
                        out.append(contentsOf: String(Character(u)).utf8)
                    default: throw error("invalid escape")
                    }
                default:
                    if c < 0x20 { throw error("control character in string") }
                    out.append(c)
                    offset += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard offset + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[offset]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                offset += 1
            }
            return v
        }

        mutating func number() throws -> BSON {
            let start = offset
            if current == UInt8(ascii: "-") { offset += 1 }
            guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw error("invalid number") }
            if first == UInt8(ascii: "0") {
                offset += 1
            } else {
                while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { offset += 1 }
            }
            var isInteger = true
            if current == UInt8(ascii: ".") {
                isInteger = false
                offset += 1
                guard let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { throw error("invalid number") }
                while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { offset += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                isInteger = false
                offset += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
                guard let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { throw error("invalid number") }
                while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { offset += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
            if isInteger, let i = Int64(text) {
                return Int32(exactly: i).map(BSON.int32) ?? .int64(i)
            }
            guard let d = Double(text), d.isFinite else { throw error("number out of range") }
            return .double(d)
        }
    }
}
