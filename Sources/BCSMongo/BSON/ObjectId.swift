import Foundation
import Synchronization

/// A MongoDB ObjectId: 4 bytes of seconds since the epoch, 5 random bytes per process, a 3-byte counter.
public struct ObjectId: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    private static let processUnique: [UInt8] = (0..<5).map { _ in UInt8.random(in: 0...255) }
    private static let counter = Atomic<UInt32>(UInt32.random(in: 0..<0xFF_FFFF))

    /// A new, process-unique ObjectId for the current time.
    public init() {
        let seconds = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))
        let count = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue & 0xFF_FFFF
        var b = [UInt8](repeating: 0, count: 12)
        b[0] = UInt8(seconds >> 24); b[1] = UInt8((seconds >> 16) & 0xFF)
        b[2] = UInt8((seconds >> 8) & 0xFF); b[3] = UInt8(seconds & 0xFF)
        for i in 0..<5 { b[4 + i] = Self.processUnique[i] }
        b[9] = UInt8(count >> 16); b[10] = UInt8((count >> 8) & 0xFF); b[11] = UInt8(count & 0xFF)
        self.bytes = b
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 12 else { return nil }
        self.bytes = bytes
    }

    /// Parses the 24-character hexadecimal form.
    public init?(_ hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 24 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(12)
        var i = 0
        while i < 24 {
            guard let hi = Self.nibble(utf8[i]), let lo = Self.nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self.bytes = out
    }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(24)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    /// The creation time encoded in the first four bytes.
    public var timestamp: Date {
        let s = UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
        return Date(timeIntervalSince1970: TimeInterval(s))
    }

    public static func < (lhs: ObjectId, rhs: ObjectId) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension ObjectId: Codable {
    /// Outside BSON (e.g. JSON) an ObjectId travels as its hex string; the BSON coders special-case it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let hex = try container.decode(String.self)
        guard let id = ObjectId(hex) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ObjectId: \(hex)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
