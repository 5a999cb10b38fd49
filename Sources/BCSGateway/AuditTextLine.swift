import BCSCore

/// An audit record as a text log line, written straight into bytes.
///
/// The same line `LogFormat.text.line` renders (a test compares them), without a string per
/// field, per number and per line: the audit writer renders a line per proxied request, and growing
/// strings append by append was most of its cost, about 2.5% of a one-core gateway's CPU at full load.
enum AuditTextLine {
    static func append(_ record: AuditLog.Record, label: String, timestamp: String, to out: inout [UInt8]) {
        out.append(contentsOf: timestamp.utf8)
        out.append(contentsOf: " info ".utf8)
        out.append(contentsOf: label.utf8)
        out.append(contentsOf: ": bytes=".utf8)
        appendDecimal(record.bytesOut, to: &out)
        out.append(contentsOf: " bytes_in=".utf8)
        appendDecimal(record.bytesIn, to: &out)
        out.append(contentsOf: " cluster=".utf8)
        out.append(contentsOf: record.cluster.utf8)
        out.append(contentsOf: " latency_ms=".utf8)
        appendDecimal(record.milliseconds, to: &out)
        out.append(contentsOf: " path=".utf8)
        out.append(contentsOf: record.path.utf8)
        out.append(contentsOf: " status=".utf8)
        appendDecimal(record.status, to: &out)
        out.append(contentsOf: " user=".utf8)
        out.append(contentsOf: record.user.utf8)
        out.append(contentsOf: " verb=".utf8)
        out.append(contentsOf: record.verb.utf8)
        out.append(contentsOf: (record.upgraded ? " [BCSGateway] session\n" : " [BCSGateway] proxied\n").utf8)
    }

    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        guard value >= 0 else {
            out.append(contentsOf: String(value).utf8)
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }
}
