import Foundation

/// Encodes `Encodable` values as BSON, keeping Swift's number widths and dates.
///
/// `Int32` (and smaller) become int32, `Int`/`Int64` int64, floating point double, `Date` a
/// millisecond datetime, `ObjectId` an ObjectId, `Data` generic binary, `nil` null. `BSON` and
/// `BSONDocument` values pass through untouched, so hand-built fragments can sit inside Codable types.
public struct BSONEncoder: Sendable {
    public init() {}

    /// Encodes a value that must come out as a document (a struct, class or dictionary).
    public func encode<T: Encodable>(_ value: T) throws -> BSONDocument {
        guard case .document(let doc) = try encodeValue(value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "top-level value is not a document"))
        }
        return doc
    }

    /// Encodes any value, including scalars and arrays.
    public func encodeValue<T: Encodable>(_ value: T) throws -> BSON {
        if let special = try BSONEncodingNode.special(value) { return special }
        let node = BSONEncodingNode()
        try value.encode(to: BSONEncoderImpl(node: node, codingPath: []))
        return node.finish()
    }
}

/// A mutable tree node the containers write into; `finish()` turns it into a `BSON` value.
final class BSONEncodingNode {
    enum Content {
        case unset
        case value(BSON)
        case document([(String, BSONEncodingNode)])
        case array([BSONEncodingNode])
    }

    var content: Content = .unset

    init() {}
    init(_ value: BSON) { content = .value(value) }

    func finish() -> BSON {
        switch content {
        case .unset: return .document(BSONDocument())
        case .value(let v): return v
        case .document(let pairs): return .document(BSONDocument(pairs.map { ($0.0, $0.1.finish()) }))
        case .array(let nodes): return .array(nodes.map { $0.finish() })
        }
    }

    /// Types with a native BSON form, encoded directly instead of through their own `encode(to:)`.
    static func special<T: Encodable>(_ value: T) throws -> BSON? {
        switch value {
        case let v as BSON: return v
        case let v as BSONDocument: return .document(v)
        case let v as ObjectId: return .objectId(v)
        case let v as Date: return .date(v)
        case let v as Data: return .binary(subtype: 0, bytes: [UInt8](v))
        default: return nil
        }
    }
}

private struct BSONEncoderImpl: Encoder {
    let node: BSONEncodingNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .document = node.content {} else { node.content = .document([]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = node.content {} else { node.content = .array([]) }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(node: node, codingPath: codingPath)
    }
}

/// Converts one value to a node: natively when BSON has the type, otherwise by recursing.
private func encodeNode<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> BSONEncodingNode {
    if let special = try BSONEncodingNode.special(value) { return BSONEncodingNode(special) }
    let node = BSONEncodingNode()
    try value.encode(to: BSONEncoderImpl(node: node, codingPath: codingPath))
    return node
}

private func bsonInteger<T: FixedWidthInteger>(_ value: T, codingPath: [any CodingKey]) throws -> BSON {
    if T.bitWidth <= 32, T.isSigned || T.bitWidth < 32 { return .int32(Int32(value)) }
    guard let v = Int64(exactly: value) else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "\(value) does not fit in int64"))
    }
    return .int64(v)
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: BSONEncodingNode
    let codingPath: [any CodingKey]

    private func set(_ key: Key, _ child: BSONEncodingNode) {
        guard case .document(var pairs) = node.content else { return }
        if let index = pairs.firstIndex(where: { $0.0 == key.stringValue }) {
            pairs[index].1 = child
        } else {
            pairs.append((key.stringValue, child))
        }
        node.content = .document(pairs)
    }

    mutating func encodeNil(forKey key: Key) throws { set(key, BSONEncodingNode(.null)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(key, BSONEncodingNode(.bool(value))) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(key, BSONEncodingNode(.string(value))) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(key, BSONEncodingNode(.double(value))) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(key, BSONEncodingNode(.double(Double(value)))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(key, BSONEncodingNode(.int64(Int64(value)))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(key, BSONEncodingNode(.int32(Int32(value)))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(key, BSONEncodingNode(.int32(Int32(value)))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(key, BSONEncodingNode(.int32(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(key, BSONEncodingNode(.int64(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(key, BSONEncodingNode(try bsonInteger(value, codingPath: codingPath + [key]))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(key, BSONEncodingNode(.int32(Int32(value)))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(key, BSONEncodingNode(.int32(Int32(value)))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(key, BSONEncodingNode(.int64(Int64(value)))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(key, BSONEncodingNode(try bsonInteger(value, codingPath: codingPath + [key]))) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        set(key, try encodeNode(value, codingPath: codingPath + [key]))
    }

    /// Optionals that are nil are left out (as JSONEncoder does) rather than written as null.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = BSONEncodingNode()
        child.content = .document([])
        set(key, child)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = BSONEncodingNode()
        child.content = .array([])
        set(key, child)
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = BSONEncodingNode()
        set(key, child)
        return BSONEncoderImpl(node: child, codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) { intValue = index; stringValue = String(index) }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(intValue) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: BSONEncodingNode
    let codingPath: [any CodingKey]

    var count: Int {
        if case .array(let nodes) = node.content { return nodes.count }
        return 0
    }

    private func append(_ child: BSONEncodingNode) {
        guard case .array(var nodes) = node.content else { return }
        nodes.append(child)
        node.content = .array(nodes)
    }

    mutating func encodeNil() throws { append(BSONEncodingNode(.null)) }
    mutating func encode(_ value: Bool) throws { append(BSONEncodingNode(.bool(value))) }
    mutating func encode(_ value: String) throws { append(BSONEncodingNode(.string(value))) }
    mutating func encode(_ value: Double) throws { append(BSONEncodingNode(.double(value))) }
    mutating func encode(_ value: Float) throws { append(BSONEncodingNode(.double(Double(value)))) }
    mutating func encode(_ value: Int) throws { append(BSONEncodingNode(.int64(Int64(value)))) }
    mutating func encode(_ value: Int32) throws { append(BSONEncodingNode(.int32(value))) }
    mutating func encode(_ value: Int64) throws { append(BSONEncodingNode(.int64(value))) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try encodeNode(value, codingPath: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = BSONEncodingNode()
        child.content = .document([])
        let path = codingPath + [IndexKey(count)]
        append(child)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = BSONEncodingNode()
        child.content = .array([])
        let path = codingPath + [IndexKey(count)]
        append(child)
        return UnkeyedContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let child = BSONEncodingNode()
        let path = codingPath + [IndexKey(count)]
        append(child)
        return BSONEncoderImpl(node: child, codingPath: path)
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let node: BSONEncodingNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.content = .value(.null) }
    mutating func encode(_ value: Bool) throws { node.content = .value(.bool(value)) }
    mutating func encode(_ value: String) throws { node.content = .value(.string(value)) }
    mutating func encode(_ value: Double) throws { node.content = .value(.double(value)) }
    mutating func encode(_ value: Float) throws { node.content = .value(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { node.content = .value(.int64(Int64(value))) }
    mutating func encode(_ value: Int8) throws { node.content = .value(.int32(Int32(value))) }
    mutating func encode(_ value: Int16) throws { node.content = .value(.int32(Int32(value))) }
    mutating func encode(_ value: Int32) throws { node.content = .value(.int32(value)) }
    mutating func encode(_ value: Int64) throws { node.content = .value(.int64(value)) }
    mutating func encode(_ value: UInt) throws { node.content = .value(try bsonInteger(value, codingPath: codingPath)) }
    mutating func encode(_ value: UInt8) throws { node.content = .value(.int32(Int32(value))) }
    mutating func encode(_ value: UInt16) throws { node.content = .value(.int32(Int32(value))) }
    mutating func encode(_ value: UInt32) throws { node.content = .value(.int64(Int64(value))) }
    mutating func encode(_ value: UInt64) throws { node.content = .value(try bsonInteger(value, codingPath: codingPath)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let child = try encodeNode(value, codingPath: codingPath)
        node.content = child.content
    }
}
