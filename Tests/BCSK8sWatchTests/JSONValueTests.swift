import BCSKube
import Foundation
import Testing

@Suite struct JSONValueTests {
    @Test func parsesEveryKindOfValue() throws {
        let text = #"{"s":"a\"b\\c\n\u00e9\ud83d\ude00/","i":-42,"big":12345678901234,"d":1.5e3,"t":true,"f":false,"n":null,"a":[1,"x",{}],"o":{"k":[]}}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["s"] == .string("a\"b\\c\né😀/"))
        #expect(value["i"] == .int(-42))
        #expect(value["big"] == .int(12_345_678_901_234))
        #expect(value["d"] == .double(1500))
        #expect(value["t"] == .bool(true))
        #expect(value["f"] == .bool(false))
        #expect(value["n"] == .null)
        #expect(value["a"] == .array([.int(1), .string("x"), .object([:])]))
        #expect(value[path: "o", "k"] == .array([]))
    }

    @Test func writesWhatItReads() throws {
        let value: JSONValue = .object(["s": .string("q\"\\\n\u{01}é"), "a": .array([.int(3), .double(0.25), .null, .bool(true)])])
        #expect(try JSONValue.parse(value.bytes) == value)
        // Foundation reads our output too.
        let foundation = try JSONSerialization.jsonObject(with: Data(value.bytes)) as? [String: Any]
        #expect(foundation?["s"] as? String == "q\"\\\n\u{01}é")
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "\"unterminated", "tru", "01x", "{\"a\":1} extra", "\"\\ud800\"", "\"\u{01}\"", "-"])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: (any Error).self) { try JSONValue.parse(Array(deep.utf8)) }
    }
}
