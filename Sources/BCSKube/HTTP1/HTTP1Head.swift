import NIOCore

/// An HTTP/1.1 message head located in its own bytes: the start line's three parts and every
/// field line, as offsets, with nothing copied out.
///
/// Why: the gateway's fast path relays a request or an answer by rewriting a few of its lines and
/// copying the rest; turning every field into two `String`s (NIO's `HTTPHeaders`) and back cost more
/// than the rest of the relay. The parse is strict where laxness lets two parsers disagree about
/// where a message ends (request smuggling): every line ends in CRLF, no bare CR or LF, no folded
/// lines, no space before a field's colon, no control bytes in values. What it refuses, a caller
/// hands to NIO's full parser, which answers it as before.
public struct HTTP1Head {
    /// Offsets of one field line's name and value (the value without surrounding whitespace),
    /// relative to the start of `bytes`.
    public struct Field {
        public let name: Range<Int>
        public let value: Range<Int>
    }

    /// The head, from the start line to the blank line that ends it, included.
    public let bytes: ByteBuffer
    /// The start line's parts: method, target and version of a request; version, status code and
    /// reason phrase of an answer (the reason may be empty).
    public let first: Range<Int>
    public let second: Range<Int>
    public let third: Range<Int>
    public let fields: [Field]

    /// Refusals of `HTTP1Head.read`.
    public enum Failure: Error, Equatable {
        case tooLarge
        case malformed
    }

    /// Takes one complete head from the front of `buffer`, or nil (nothing taken) while its end
    /// has not arrived. `scanned` remembers how far an earlier call looked, so a head arriving in
    /// many reads is scanned once; reset it to 0 after a head is taken.
    public static func read(from buffer: inout ByteBuffer, scanned: inout Int, limit: Int) throws(Failure) -> HTTP1Head? {
        let readable = buffer.readableBytes
        let end = buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = max(0, scanned - 3)
            while index + 3 < bytes.count {
                // Where CRLFCRLF cannot end at index + 3, the next place it can start is one on
                // after a CR there, four on after anything else but LF, two on after an LF.
                if bytes[index + 3] != 0x0A {
                    index += bytes[index + 3] == 0x0D ? 1 : 4
                    continue
                }
                if bytes[index] == 0x0D, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x0D { return index + 4 }
                index += 2
            }
            return nil
        }
        guard let end else {
            scanned = readable
            if readable > limit { throw .tooLarge }
            return nil
        }
        guard end <= limit else { throw .tooLarge }
        let head = buffer.readSlice(length: end)!
        scanned = 0
        return try parse(head)
    }

    /// Parses a head whose bytes end with the blank line.
    static func parse(_ head: ByteBuffer) throws(Failure) -> HTTP1Head {
        let parsed = head.withUnsafeReadableBytes { bytes -> (Range<Int>, Range<Int>, Range<Int>, [Field])? in
            var fields: [Field] = []
            fields.reserveCapacity(16)
            // Start line: three parts, single spaces between them (the third may hold spaces).
            guard let startEnd = lineEnd(bytes, from: 0) else { return nil }
            guard let space1 = firstIndex(of: 0x20, in: bytes, 0..<startEnd), space1 > 0 else { return nil }
            let space2 = firstIndex(of: 0x20, in: bytes, (space1 + 1)..<startEnd)
            let first = 0..<space1
            let second = (space1 + 1)..<(space2 ?? startEnd)
            let third = space2.map { ($0 + 1)..<startEnd } ?? startEnd..<startEnd
            guard !second.isEmpty else { return nil }
            for index in 0..<startEnd where bytes[index] < 0x20 || bytes[index] == 0x7F { return nil }
            var start = startEnd + 2
            while true {
                guard let end = lineEnd(bytes, from: start) else { return nil }
                if end == start { break }  // the blank line
                var colon = start
                while colon < end, isTokenByte(bytes[colon]) { colon += 1 }
                // Not a token up to a colon: a folded line, a space before the colon, no colon.
                guard colon > start, colon < end, bytes[colon] == 0x3A else { return nil }
                var valueStart = colon + 1
                var valueEnd = end
                while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
                while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
                for index in valueStart..<valueEnd where (bytes[index] < 0x20 && bytes[index] != 0x09) || bytes[index] == 0x7F { return nil }
                fields.append(Field(name: start..<colon, value: valueStart..<valueEnd))
                start = end + 2
            }
            return (first, second, third, fields)
        }
        guard let parsed else { throw .malformed }
        return HTTP1Head(bytes: head, first: parsed.0, second: parsed.1, third: parsed.2, fields: parsed.3)
    }

    /// The index of the CR ending the line that starts at `from`; nil for a bare CR or LF.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var index = from
        while index + 1 < bytes.count {
            switch bytes[index] {
            case 0x0D: return bytes[index + 1] == 0x0A ? index : nil
            case 0x0A: return nil
            default: index += 1
            }
        }
        return nil
    }

    private static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        for index in range where bytes[index] == byte { return index }
        return nil
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"),
            UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// What the head says about its body's framing (RFC 9112 §6): its `Content-Length`, if any, and
    /// its `Transfer-Encoding` value, if any; nil when either is doubtful (a length that is not a
    /// plain number, two lengths that differ, two coding fields), as a smuggler's message would be.
    public func bodyFraming() -> (length: Int?, transferEncoding: Range<Int>?)? {
        var length: Int?
        var transferEncoding: Range<Int>?
        for field in fields {
            switch field.name.count {
            case 14 where equalsIgnoringCase(field.name, "content-length"):
                guard let value = decimal(field.value), length == nil || length == value else { return nil }
                length = value
            case 17 where equalsIgnoringCase(field.name, "transfer-encoding"):
                guard transferEncoding == nil else { return nil }
                transferEncoding = field.value
            default:
                continue
            }
        }
        return (length, transferEncoding)
    }

    // MARK: Reading parts

    /// Whether the bytes at `range` are `lowercase`, ignoring ASCII case.
    public func equalsIgnoringCase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        return bytes.withUnsafeReadableBytes { bytes in
            let expected = lowercase.utf8Start
            for offset in 0..<range.count where bytes[range.lowerBound + offset] | 0x20 != expected[offset] | 0x20 {
                return false
            }
            return true
        }
    }

    /// Whether the bytes at `range` start with `prefix` (lowercase), ignoring ASCII case.
    public func hasPrefixIgnoringCase(_ range: Range<Int>, _ prefix: StaticString) -> Bool {
        guard range.count >= prefix.utf8CodeUnitCount else { return false }
        return equalsIgnoringCase(range.lowerBound..<(range.lowerBound + prefix.utf8CodeUnitCount), prefix)
    }

    /// Whether the comma-separated list at `range` has `token` (lowercase) as an element, ignoring case.
    public func listContains(_ range: Range<Int>, _ token: StaticString) -> Bool {
        var elements: [Range<Int>] = []
        bytes.withUnsafeReadableBytes { bytes in
            var start = range.lowerBound
            while start <= range.upperBound {
                var end = start
                while end < range.upperBound, bytes[end] != UInt8(ascii: ",") { end += 1 }
                var low = start
                var high = end
                while low < high, bytes[low] == 0x20 || bytes[low] == 0x09 { low += 1 }
                while high > low, bytes[high - 1] == 0x20 || bytes[high - 1] == 0x09 { high -= 1 }
                elements.append(low..<high)
                start = end + 1
            }
        }
        return elements.contains { equalsIgnoringCase($0, token) }
    }

    /// The bytes at `range` as a string (UTF-8, invalid sequences repaired).
    public func string(_ range: Range<Int>) -> String {
        bytes.getString(at: bytes.readerIndex + range.lowerBound, length: range.count) ?? ""
    }

    /// A whole field line as it arrived, `name: value` with its own spacing, CRLF excluded.
    public func line(of field: Field) -> Range<Int> {
        field.name.lowerBound..<Swift.max(field.value.upperBound, field.name.upperBound + 1)
    }

    /// The decimal number at `range`; nil unless it is 1–18 digits and nothing else.
    public func decimal(_ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        return bytes.withUnsafeReadableBytes { bytes in
            var value = 0
            for index in range {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
    }
}
