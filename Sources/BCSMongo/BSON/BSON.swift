import Foundation

/// One BSON value, as stored by MongoDB.
///
/// Only the types the project reads and writes have their own case; anything else a server
/// returns (regex, decimal128, JavaScript, …) is kept byte-for-byte in `.opaque` so a read-modify-write
/// never loses it.
public enum BSON: Sendable, Hashable {
    case double(Double)
    case string(String)
    case document(BSONDocument)
    case array([BSON])
    case binary(subtype: UInt8, bytes: [UInt8])
    case objectId(ObjectId)
    case bool(Bool)
    /// Milliseconds since the Unix epoch (UTC), BSON's `datetime`.
    case datetime(Int64)
    case null
    case int32(Int32)
    case timestamp(UInt64)
    case int64(Int64)
    /// A value of a BSON type this layer does not model, with its raw element payload.
    case opaque(type: UInt8, payload: [UInt8])

    /// Builds a datetime from a `Date`, rounding to the millisecond BSON keeps.
    public static func date(_ date: Date) -> BSON {
        .datetime(Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var documentValue: BSONDocument? {
        if case .document(let d) = self { return d }
        return nil
    }

    public var arrayValue: [BSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The value as an `Int` when it is any BSON number holding an exact integer.
    public var intValue: Int? {
        switch self {
        case .int32(let v): return Int(v)
        case .int64(let v): return Int(v)
        case .double(let v): return v.rounded() == v && abs(v) < 9.0e18 ? Int(v) : nil
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .double(let v): return v
        case .int32(let v): return Double(v)
        case .int64(let v): return Double(v)
        default: return nil
        }
    }

    public var dateValue: Date? {
        if case .datetime(let ms) = self { return Date(timeIntervalSince1970: Double(ms) / 1000) }
        return nil
    }

    public var objectIdValue: ObjectId? {
        if case .objectId(let id) = self { return id }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The BSON element type byte (BSON spec §"element").
    var typeByte: UInt8 {
        switch self {
        case .double: return 0x01
        case .string: return 0x02
        case .document: return 0x03
        case .array: return 0x04
        case .binary: return 0x05
        case .objectId: return 0x07
        case .bool: return 0x08
        case .datetime: return 0x09
        case .null: return 0x0A
        case .int32: return 0x10
        case .timestamp: return 0x11
        case .int64: return 0x12
        case .opaque(let type, _): return type
        }
    }
}

extension BSON: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension BSON: ExpressibleByIntegerLiteral {
    /// Integer literals become int64 when they do not fit in int32, int32 otherwise.
    public init(integerLiteral value: Int) {
        self = Int32(exactly: value).map(BSON.int32) ?? .int64(Int64(value))
    }
}

extension BSON: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension BSON: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension BSON: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: BSON...) { self = .array(elements) }
}

extension BSON: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, BSON)...) {
        self = .document(BSONDocument(elements))
    }
}

extension BSON: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}
