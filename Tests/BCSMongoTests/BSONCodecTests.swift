import CLibMongoC
import Foundation
import Testing

@testable import BCSMongo

/// A Codable type with one field of every BSON type the layer promises to preserve.
struct EveryType: Codable, Equatable {
    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
    }

    var id: ObjectId
    var small: Int32
    var big: Int64
    var int: Int
    var ratio: Double
    var flag: Bool
    var text: String
    var when: Date
    var missing: String?
    var explicitNull: BSON
    var nested: Inner
    var list: [Inner]
    var matrix: [[Int32]]
}

@Suite("BSON codec")
struct BSONCodecTests {
    static func sample() -> EveryType {
        EveryType(
            id: ObjectId(),
            small: -123_456,
            big: 1 << 40 + 7,
            int: Int(Int32.max) + 10,
            ratio: 3.141_592_653_589_793,
            flag: true,
            text: "héllo \u{0}wörld ✓",
            when: Date(timeIntervalSince1970: 1_700_000_000.123),
            missing: nil,
            explicitNull: .null,
            nested: .init(name: "n", tags: ["a", "b"]),
            list: [.init(name: "x", tags: []), .init(name: "y", tags: ["z"])],
            matrix: [[1, 2], [], [3]]
        )
    }

    @Test func encoderKeepsBSONTypes() throws {
        let value = Self.sample()
        let doc = try BSONEncoder().encode(value)
        #expect(doc["small"] == .int32(-123_456))
        #expect(doc["big"] == .int64(1 << 40 + 7))
        #expect(doc["int"] == .int64(Int64(Int32.max) + 10))
        #expect(doc["ratio"] == .double(3.141_592_653_589_793))
        #expect(doc["flag"] == .bool(true))
        #expect(doc["when"] == .datetime(1_700_000_000_123))
        #expect(doc["id"] == .objectId(value.id))
        #expect(doc["missing"] == nil, "nil optionals are left out")
        #expect(doc["explicitNull"] == .null)
        #expect(doc.value(atPath: "nested.tags") == .array(["a", "b"]))
        #expect(doc.keys == ["id", "small", "big", "int", "ratio", "flag", "text", "when", "explicitNull", "nested", "list", "matrix"])
    }

    @Test func codableRoundTripThroughBytes() throws {
        let value = Self.sample()
        let bytes = try BSONEncoder().encode(value).bsonBytes()
        let decoded = try BSONDecoder().decode(EveryType.self, from: try BSONDocument(bsonBytes: bytes))
        #expect(decoded == value)
    }

    @Test func bytesAreWhatLibbsonReads() throws {
        let doc: BSONDocument = [
            "i32": .int32(42), "i64": .int64(5_000_000_000), "d": 1.5, "s": "x", "b": false, "n": nil,
            "dt": .datetime(1_700_000_000_123), "oid": .objectId(ObjectId("5f1d7a8e9c0b1a2b3c4d5e6f")!),
            "doc": ["a": [1, 2, ["b": "c"]]],
        ]
        let bytes = try doc.bsonBytes()
        // Let libbson parse our bytes and print canonical extended JSON: the types must survive.
        let json: String = try bytes.withUnsafeBufferPointer { buffer in
            guard let handle = bson_new_from_data(buffer.baseAddress, buffer.count) else { throw BSONError("libbson rejected the bytes") }
            defer { bson_destroy(handle) }
            var length = 0
            guard let cString = bson_as_canonical_extended_json(handle, &length) else { throw BSONError("no JSON") }
            defer { bson_free(cString) }
            return String(cString: cString)
        }
        #expect(json.contains(#""i32" : { "$numberInt" : "42" }"#))
        #expect(json.contains(#""i64" : { "$numberLong" : "5000000000" }"#))
        #expect(json.contains(#""dt" : { "$date" : { "$numberLong" : "1700000000123" } }"#))
        #expect(json.contains(#""oid" : { "$oid" : "5f1d7a8e9c0b1a2b3c4d5e6f" }"#))
        #expect(json.contains(#""n" : null"#))
        #expect(try BSONDocument(bsonBytes: bytes) == doc)
    }

    @Test func malformedBytesThrowInsteadOfCrashing() throws {
        let valid = try (["a": ["b": [1, "two", 3.0]], "c": .binary(subtype: 0, bytes: [1, 2, 3])] as BSONDocument).bsonBytes()
        // Every truncation and every single-byte corruption must either parse or throw.
        for length in 0..<valid.count {
            #expect(throws: BSONError.self) { try BSONDocument(bsonBytes: Array(valid.prefix(length))) }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var mutated = valid
            mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = try? BSONDocument(bsonBytes: mutated)
        }
        // Absurd nesting is refused, not recursed into.
        var deep: BSON = 1
        for _ in 0..<200 { deep = .document(["d": deep]) }
        let deepBytes = try BSONDocument([("root", deep)]).bsonBytes()
        #expect(throws: BSONError.self) { try BSONDocument(bsonBytes: deepBytes) }
    }

    @Test func keysWithNULAreRejected() {
        #expect(throws: BSONError.self) { try (["a\u{0}b": 1] as BSONDocument).bsonBytes() }
    }

    @Test func numbersConvertWhenExact() throws {
        struct Numbers: Decodable { var a: Int; var b: Int32; var c: Double }
        let n = try BSONDecoder().decode(Numbers.self, from: ["a": .int32(7), "b": .int64(8), "c": .int32(9)])
        #expect(n.a == 7 && n.b == 8 && n.c == 9)
        #expect(throws: DecodingError.self) { try BSONDecoder().decode(Numbers.self, from: ["a": .double(1.5), "b": 1, "c": 1]) }
        #expect(throws: DecodingError.self) { try BSONDecoder().decode(Numbers.self, from: ["a": 1, "b": .int64(1 << 40), "c": 1]) }
    }

    @Test func objectIdHexRoundTrip() throws {
        let id = ObjectId()
        #expect(ObjectId(id.hex) == id)
        #expect(ObjectId("zz") == nil)
        #expect(ObjectId() != ObjectId(), "the counter makes ids unique")
        #expect(abs(id.timestamp.timeIntervalSinceNow) < 5)
    }

    @Test func jsonInteropKeepsStructure() throws {
        let json = #"{"kind":"Event","count":3,"big":5000000000,"ratio":0.5,"ok":true,"none":null,"items":[{"a":1}]}"#
        let value = try JSONDecoder().decode(BSON.self, from: Data(json.utf8))
        guard case .document(let doc) = value else { Issue.record("not a document"); return }
        #expect(doc["count"] == .int32(3))
        #expect(doc["big"] == .int64(5_000_000_000))
        #expect(doc["ratio"] == .double(0.5))
        #expect(doc["none"] == .null)
        #expect(doc.value(atPath: "kind") == "Event")
        // Foundation's JSONDecoder does not keep object key order, so compare with keys sorted.
        let back = try JSONDecoder().decode(BSON.self, from: try JSONEncoder().encode(value))
        #expect(Self.sortingKeys(back) == Self.sortingKeys(value))
    }

    static func sortingKeys(_ value: BSON) -> BSON {
        switch value {
        case .document(let doc): return .document(BSONDocument(doc.elements.sorted { $0.key < $1.key }.map { ($0.key, sortingKeys($0.value)) }))
        case .array(let values): return .array(values.map(sortingKeys))
        default: return value
        }
    }
}
