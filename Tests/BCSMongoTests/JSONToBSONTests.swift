import Foundation
import Testing

@testable import BCSMongo

@Suite("JSON to BSON")
struct JSONToBSONTests {
    func parse(_ text: String) throws -> BSON { try JSONToBSON.parse(Array(text.utf8)) }

    @Test func keepsKeyOrderAndTypes() throws {
        let value = try parse(#" {"z":1,"a":{"y":[true,false,null],"b":-2147483649},"m":1.5e3,"s":"x","e":{},"l":[]} "#)
        guard case .document(let doc) = value else { Issue.record("not a document"); return }
        #expect(doc.keys == ["z", "a", "m", "s", "e", "l"])
        #expect(doc["z"] == .int32(1))
        #expect(doc.value(atPath: "a.b") == .int64(-2_147_483_649))
        #expect(doc.value(atPath: "a.y") == [true, false, nil])
        #expect(doc["m"] == .double(1500))
        #expect(doc["e"] == .document([:]) && doc["l"] == .array([]))
    }

    @Test func decodesEscapesAndUnicode() throws {
        #expect(try parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00 ✓""#) == .string("a\"b\\c/d\n\té😀 ✓"))
    }

    @Test func repeatedKeysKeepTheLastValue() throws {
        #expect(try parse(#"{"a":1,"a":2}"#) == .document(["a": .int32(2)]))
        let many = "{" + (0..<100).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k5\":\"again\"}"
        guard case .document(let doc) = try parse(many) else { Issue.record("not a document"); return }
        #expect(doc.count == 100 && doc["k5"] == "again")
    }

    @Test func agreesWithFoundationOnValidInput() throws {
        let json = #"{"kind":"Event","count":3,"big":5000000000,"ratio":0.25,"ok":true,"none":null,"items":[{"a":1},"x"]}"#
        let ours = try parse(json)
        let foundation = try JSONDecoder().decode(BSON.self, from: Data(json.utf8))
        #expect(BSONCodecTests.sortingKeys(ours) == BSONCodecTests.sortingKeys(foundation))
    }

    @Test func rejectsInvalidJSONWithAnOffset() {
        for bad in ["", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "tru", "01", "1.", "-", "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"", "{} x", "{'a':1}", "NaN", "1e999"] {
            #expect(throws: JSONToBSON.ParseError.self, "\(bad)") { try parse(bad) }
        }
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: JSONToBSON.ParseError.self) { try parse(deep) }
    }
}
