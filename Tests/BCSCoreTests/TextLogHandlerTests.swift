import Foundation
import Logging
import Testing

@testable import BCSCore

@Suite("Text logs")
struct TextLogHandlerTests {
    @Test func linesKeepStreamLogHandlersLayout() throws {
        let sink = LogSink(capturing: ())
        var logger = Logger(label: "bcs.test") { TextLogHandler(label: $0, level: .info, sink: sink) }
        logger[metadataKey: "role"] = "gateway"
        logger.info("proxied", metadata: ["status": "200", "cluster": "BCS-K8S-1"])
        logger.debug("below the level")
        #expect(sink.lines.count == 1)
        let line = try #require(sink.lines.first)
        let pattern = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 info bcs\.test: cluster=BCS-K8S-1 role=gateway status=200 \[BCSCoreTests\] proxied\n$/#
        #expect(line.wholeMatch(of: pattern) != nil, "\(line)")
    }

    /// `LogFormat.line` (the audit writer's way) renders what the handler writes for the same record.
    @Test(arguments: LogFormat.allCases)
    func aRenderedLineIsTheHandlersLine(format: LogFormat) throws {
        let sink = LogSink(capturing: ())
        let logger = Logger(label: "bcs.audit") { label -> any LogHandler in
            format == .text ? TextLogHandler(label: label, level: .info, sink: sink) : JSONLogHandler(label: label, level: .info, sink: sink)
        }
        let fields = [(key: "bytes", value: "10"), (key: "cluster", value: "BCS-K8S-1"), (key: "path", value: #"/api/v1/"q" x"#)]
        logger.info("proxied", metadata: Logger.Metadata(uniqueKeysWithValues: fields.map { ($0.key, .string($0.value)) }))
        let rendered = format.line(level: .info, label: "bcs.audit", source: "BCSCoreTests", message: "proxied", fields: fields)
        let logged = try #require(sink.lines.first)
        // Their timestamps may differ by a second; nothing else may.
        func withoutTime(_ line: String) -> String {
            line.replacing(#/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 /#, with: "").replacing(#/"ts":"[^"]*"/#, with: "")
        }
        #expect(withoutTime(rendered) == withoutTime(logged), "\(rendered) vs \(logged)")
        #expect(withoutTime(rendered) != rendered, "the timestamp was found and removed")
    }

    @Test func aBatchGoesOutWhenItEnds() throws {
        let sink = LogSink(capturing: ())
        let logger = Logger(label: "bcs.audit") { TextLogHandler(label: $0, level: .info, sink: sink) }
        LogSink.batching {
            for n in 1...3 { logger.info("record \(n)") }
            #expect(sink.lines.isEmpty, "nothing is written before the batch ends")
        }
        #expect(sink.lines.count == 3 && sink.lines.map { $0.hasSuffix("record \(sink.lines.firstIndex(of: $0)! + 1)\n") } == [true, true, true])
        logger.info("after")
        #expect(sink.lines.count == 4, "outside a batch each line is written at once")
    }

    @Test func aBatchToADescriptorArrivesWhole() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let sink = LogSink(fd: fds[1])
        let logger = Logger(label: "bcs.audit") { TextLogHandler(label: $0, level: .info, sink: sink) }
        LogSink.batching {
            for n in 1...100 { logger.info("record \(n)") }
        }
        close(fds[1])
        var text = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            text.append(contentsOf: buffer[..<n])
        }
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 100 && lines.first?.hasSuffix("record 1") == true && lines.last?.hasSuffix("record 100") == true)
    }
}
