import BCSCore
import Logging
import Testing

@testable import BCSGateway

/// Audit lines written as bytes are the lines the text log handler writes for the same record.
@Suite("gateway: audit lines as bytes")
struct AuditTextLineTests {
    static let records = [
        AuditLog.Record(user: "admin", cluster: "BCS-K8S-40000", verb: "GET", path: "/api/v1/namespaces/default/configmaps/bench", status: 200,
                        bytesIn: 0, bytesOut: 1043, milliseconds: 1, upgraded: false),
        AuditLog.Record(user: "ünïcode-user", cluster: "c", verb: "create", path: "/api/v1/namespaces/x%0Afake%20line/pods/p/exec", status: 101,
                        bytesIn: 9_223_372_036_854_775_807, bytesOut: 0, milliseconds: 120_000, upgraded: true),
        AuditLog.Record(user: "", cluster: "", verb: "", path: "", status: 0, bytesIn: 10, bytesOut: -1, milliseconds: 0, upgraded: false),
    ]

    @Test func bytesEqualTheHandlersLine() {
        for record in Self.records {
            var bytes: [UInt8] = []
            AuditTextLine.append(record, label: "bcs.audit", timestamp: "2026-12-07T21:40:14+0000", to: &bytes)
            let ours = String(decoding: bytes, as: UTF8.self)
            let handlers = LogFormat.text.line(level: .info, label: "bcs.audit", source: "BCSGateway", message: record.message, fields: record.fields)
            // The handler stamps its own time: compare the rest of the line.
            #expect(ours.hasPrefix("2026-12-07T21:40:14+0000 "))
            #expect(ours.drop(while: { $0 != " " }) == handlers.drop(while: { $0 != " " }))
            #expect(ours.hasSuffix("\n"))
        }
    }

    @Test func decimalsOfEverySize() {
        for value in [0, 7, 10, 99, 100, 1043, 65_536, 1_000_000_007, Int.max, -1, Int.min] {
            var bytes: [UInt8] = []
            AuditTextLine.appendDecimal(value, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == String(value))
        }
    }
}
