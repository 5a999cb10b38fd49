import BCSCore
import BCSMongo

/// Compact JSON text for `BSON` values, the simulator's in-memory object model.
///
/// `BSON` keeps object keys in insertion order, which kubectl does not need but humans reading
/// `-o json` do; writing it by hand also keeps integers integral (`replicas: 3`, never `3.0`).
enum JSONText {
    static func parse(_ bytes: [UInt8]) throws -> BSON { try JSONToBSON.parse(bytes) }

    static func render(_ value: BSON) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    static func render(_ document: BSONDocument) -> String { render(.document(document)) }

    private static func write(_ value: BSON, into out: inout String) {
        switch value {
        case .document(let doc):
            out += "{"
            var first = true
            for (key, element) in doc.elements {
                if !first { out += "," }
                first = false
                writeString(key, into: &out)
                out += ":"
                write(element, into: &out)
            }
            out += "}"
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                write(element, into: &out)
            }
            out += "]"
        case .string(let s): writeString(s, into: &out)
        case .bool(let b): out += b ? "true" : "false"
        case .int32(let i): out += String(i)
        case .int64(let i): out += String(i)
        case .double(let d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else if d.isFinite { out += "\(d)" } else { out += "null" }
        case .null, .opaque, .binary, .objectId, .datetime, .timestamp: out += "null"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        JSONString.appendQuoted(s, to: &out)
    }
}

extension BSON {
    /// Reads a nested field by path components.
    subscript(path path: [String]) -> BSON? {
        var current: BSON = self
        for key in path {
            guard case .document(let doc) = current, let next = doc[key] else { return nil }
            current = next
        }
        return current
    }

    /// The document payload, or an empty document for anything else.
    var doc: BSONDocument {
        if case .document(let d) = self { return d }
        return BSONDocument()
    }
}

extension BSONDocument {
    /// Sets a nested field, creating intermediate documents.
    mutating func set(_ path: [String], _ value: BSON?) {
        guard let head = path.first else { return }
        if path.count == 1 {
            self[head] = value
            return
        }
        var child = self[head]?.documentValue ?? BSONDocument()
        child.set(Array(path.dropFirst()), value)
        self[head] = .document(child)
    }

    func string(_ path: String...) -> String? { BSON.document(self)[path: path]?.stringValue }
}
