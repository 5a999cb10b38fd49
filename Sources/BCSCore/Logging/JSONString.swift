/// JSON string literals, for code that writes JSON text by hand (log lines, streamed objects).
public enum JSONString {
    /// Appends `s` as a quoted JSON string, escaping quotes, backslashes and control characters.
    public static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        // Most strings need no escaping: append them whole rather than scalar by scalar.
        if !s.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
