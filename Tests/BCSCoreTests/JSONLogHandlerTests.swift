import Foundation
import Logging
import Testing

@testable import BCSCore

@Suite("JSON logs")
struct JSONLogHandlerTests {
    @Test func eachRecordIsOneParseableJSONLine() throws {
        let sink = LogSink(capturing: ())
        var logger = Logger(label: "bcs.test") { JSONLogHandler(label: $0, level: .debug, sink: sink) }
        logger[metadataKey: "role"] = "gateway"
        logger.info("hello \"quoted\"\nsecond line\u{1}", metadata: ["cluster": "BCS-K8S-1", "list": ["a", "b"], "nested": ["k": "v"]])
        logger.trace("below the level")
        #expect(sink.lines.count == 1)
        let line = try #require(sink.lines.first)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["msg"] as? String == "hello \"quoted\"\nsecond line\u{1}")
        #expect(object["level"] as? String == "info")
        #expect(object["logger"] as? String == "bcs.test")
        #expect(object["role"] as? String == "gateway")
        #expect(object["cluster"] as? String == "BCS-K8S-1")
        #expect(object["list"] as? [String] == ["a", "b"])
        #expect((object["nested"] as? [String: String])?["k"] == "v")
        #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
    }
}
