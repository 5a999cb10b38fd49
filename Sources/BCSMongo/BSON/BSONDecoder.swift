import Foundation

/// Decodes `Decodable` values from BSON.
///
/// Numbers convert between int32, int64 and double when the value fits exactly, because documents
/// written by other drivers (or by hand in the mongo shell) rarely agree on widths. A missing key
/// and a `null` both decode as `nil` for optionals.
public struct BSONDecoder: Sendable {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from document: BSONDocument) throws -> T {
        try decode(type, fromValue: .document(document))
    }

    public func decode<T: Decodable>(_ type: T.Type, fromValue value: BSON) throws -> T {
        try decodeSpecial(type, value, codingPath: []) ?? T(from: BSONDecoderImpl(value: value, codingPath: []))
    }
}

/// Types whose BSON form is native, decoded without their own `init(from:)`.
private func decodeSpecial<T: Decodable>(_ type: T.Type, _ value: BSON, codingPath: [any CodingKey]) throws -> T? {
    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "expected \(expected), found \(value)"))
    }
    if type == BSON.self { return (value as! T) }
    if type == BSONDocument.self {
        guard case .document(let d) = value else { throw mismatch("a document") }
        return (d as! T)
    }
    if type == ObjectId.self {
        switch value {
        case .objectId(let id): return (id as! T)
        case .string(let s):
            if let id = ObjectId(s) { return (id as! T) }
            throw mismatch("an ObjectId")
        default: throw mismatch("an ObjectId")
        }
    }
    if type == Date.self {
        guard let d = value.dateValue else { throw mismatch("a datetime") }
        return (d as! T)
    }
    if type == Data.self {
        guard case .binary(_, let bytes) = value else { throw mismatch("binary data") }
        return (Data(bytes) as! T)
    }
    return nil
}

private struct BSONDecoderImpl: Decoder {
    let value: BSON
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .document(let doc) = value else {
            throw DecodingError.typeMismatch(BSONDocument.self, .init(codingPath: codingPath, debugDescription: "expected a document, found \(value)"))
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(document: doc, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let values) = value else {
            throw DecodingError.typeMismatch([BSON].self, .init(codingPath: codingPath, debugDescription: "expected an array, found \(value)"))
        }
        return UnkeyedContainer(values: values, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(value: value, codingPath: codingPath)
    }
}

private func decodeValue<T: Decodable>(_ type: T.Type, _ value: BSON, codingPath: [any CodingKey]) throws -> T {
    if let special = try decodeSpecial(type, value, codingPath: codingPath) { return special }
    return try T(from: BSONDecoderImpl(value: value, codingPath: codingPath))
}

private func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, _ value: BSON, codingPath: [any CodingKey]) throws -> T {
    let result: T?
    switch value {
    case .int32(let v): result = T(exactly: v)
    case .int64(let v): result = T(exactly: v)
    case .double(let v): result = T(exactly: v)
    default: result = nil
    }
    guard let result else {
        throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "expected \(T.self), found \(value)"))
    }
    return result
}

private func decodeFloating(_ value: BSON, codingPath: [any CodingKey]) throws -> Double {
    guard let d = value.doubleValue else {
        throw DecodingError.typeMismatch(Double.self, .init(codingPath: codingPath, debugDescription: "expected a number, found \(value)"))
    }
    return d
}

private func decodeString(_ value: BSON, codingPath: [any CodingKey]) throws -> String {
    guard case .string(let s) = value else {
        throw DecodingError.typeMismatch(String.self, .init(codingPath: codingPath, debugDescription: "expected a string, found \(value)"))
    }
    return s
}

private func decodeBool(_ value: BSON, codingPath: [any CodingKey]) throws -> Bool {
    guard case .bool(let b) = value else {
        throw DecodingError.typeMismatch(Bool.self, .init(codingPath: codingPath, debugDescription: "expected a boolean, found \(value)"))
    }
    return b
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: BSONDocument
    let codingPath: [any CodingKey]

    var allKeys: [Key] { document.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { document[key.stringValue] != nil }

    private func value(_ key: Key) throws -> BSON {
        guard let v = document[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no field \"\(key.stringValue)\""))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool { document[key.stringValue]?.isNull ?? true }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeBool(value(key), codingPath: codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeString(value(key), codingPath: codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeFloating(value(key), codingPath: codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try decodeFloating(value(key), codingPath: codingPath + [key])) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decodeInteger(type, value(key), codingPath: codingPath + [key]) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeValue(type, value(key), codingPath: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = document[key.stringValue], !v.isNull || type == BSON.self else { return nil }
        return try decodeValue(type, v, codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try BSONDecoderImpl(value: value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try BSONDecoderImpl(value: value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        BSONDecoderImpl(value: document["super"] ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        BSONDecoderImpl(value: document[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) { intValue = index; stringValue = String(index) }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(intValue) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let values: [BSON]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(values: [BSON], codingPath: [any CodingKey]) {
        self.values = values
        self.codingPath = codingPath
    }

    var count: Int? { values.count }
    var isAtEnd: Bool { currentIndex >= values.count }

    private mutating func next() throws -> (BSON, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(BSON.self, .init(codingPath: codingPath, debugDescription: "array has only \(values.count) elements"))
        }
        defer { currentIndex += 1 }
        return (values[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, values[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        switch type {
        case is Bool.Type: return try decodeBool(value, codingPath: path) as! T
        case is String.Type: return try decodeString(value, codingPath: path) as! T
        case is Double.Type: return try decodeFloating(value, codingPath: path) as! T
        case is Int.Type: return try decodeInteger(Int.self, value, codingPath: path) as! T
        case is Int32.Type: return try decodeInteger(Int32.self, value, codingPath: path) as! T
        case is Int64.Type: return try decodeInteger(Int64.self, value, codingPath: path) as! T
        default: return try decodeValue(type, value, codingPath: path)
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next()
        return try BSONDecoderImpl(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try BSONDecoderImpl(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next()
        return BSONDecoderImpl(value: value, codingPath: path)
    }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let value: BSON
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeBool(value, codingPath: codingPath) }
    func decode(_ type: String.Type) throws -> String { try decodeString(value, codingPath: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try decodeFloating(value, codingPath: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try decodeFloating(value, codingPath: codingPath)) }
    func decode(_ type: Int.Type) throws -> Int { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger(type, value, codingPath: codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type, value, codingPath: codingPath) }
}
