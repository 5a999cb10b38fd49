import BCSMongo

/// Maps document keys between what clients send and what MongoDB can store and query.
///
/// Kubernetes objects carry label and annotation keys with dots (`app.kubernetes.io/name`), which
/// older MongoDB servers refuse and every server makes unqueryable as paths. Keys are therefore
/// stored percent-escaped — `%` as `%25`, `.` as `%2E`, `$` as `%24` — and restored on read, so a
/// label selector can address `data.metadata.labels.app%2Ekubernetes%2Eio/name`. (bcs-storage
/// used U+FF04/U+FF0E; ASCII escapes also work on servers whose path syntax rejects non-ASCII.)
/// A key that *starts* with `$` is refused outright: it is an operator injection attempt, not data.
enum FieldNames {
    /// The stored form of one key.
    static func escape(_ key: String) -> String {
        guard key.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "$") || $0 == UInt8(ascii: "%") }) else { return key }
        var out = ""
        out.reserveCapacity(key.utf8.count + 8)
        for c in key {
            switch c {
            case "%": out += "%25"
            case ".": out += "%2E"
            case "$": out += "%24"
            default: out.append(c)
            }
        }
        return out
    }

    static func unescape(_ key: String) -> String {
        guard key.utf8.contains(UInt8(ascii: "%")) else { return key }
        var out = ""
        var rest = Substring(key)
        while let percent = rest.firstIndex(of: "%") {
            out += rest[..<percent]
            let code = rest[percent...].prefix(3)
            switch code {
            case "%25": out += "%"
            case "%2E": out += "."
            case "%24": out += "$"
            default: out += code
            }
            rest = rest[rest.index(percent, offsetBy: code.count)...]
        }
        return out + rest
    }

    /// Escapes every key of a client value for storage, refusing `$`-prefixed and empty keys.
    /// - Parameter path: where the value sits in the request, for the error message.
    static func forStorage(_ value: BSON, path: String) throws -> BSON {
        switch value {
        case .document(let doc):
            var out = BSONDocument()
            for (key, child) in doc {
                if key.hasPrefix("$") {
                    throw StorageCode.badRequest("field name '\(path).\(key)' starts with '$', which is not allowed")
                }
                if key.isEmpty {
                    throw StorageCode.badRequest("empty field name inside '\(path)'")
                }
                out.append(escape(key), try forStorage(child, path: path + "." + key))
            }
            return .document(out)
        case .array(let values):
            return .array(try values.enumerated().map { try forStorage($1, path: "\(path)[\($0)]") })
        default:
            return value
        }
    }

    /// Restores client keys in a stored value.
    static func fromStorage(_ value: BSON) -> BSON {
        switch value {
        case .document(let doc):
            return .document(BSONDocument(doc.elements.map { (unescape($0.key), fromStorage($0.value)) }))
        case .array(let values):
            return .array(values.map(fromStorage))
        default:
            return value
        }
    }

    /// Checks a field path a client gave in a query (projection, `extra`, selectors): dotted
    /// segments of letters, digits, `_`, `-`, `/`; never `$`.
    static func validatePath(_ path: String, parameter: String) throws {
        let segments = path.split(separator: ".", omittingEmptySubsequences: false)
        guard !path.isEmpty, segments.allSatisfy({ !$0.isEmpty }) else {
            throw StorageCode.badRequest("\(parameter): invalid field name '\(path)'")
        }
        if path.hasPrefix("$") || path.contains(".$") {
            throw StorageCode.badRequest("\(parameter): field name '\(path)' starts with '$', which is not allowed")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/.")
        guard path.allSatisfy({ allowed.contains($0) }) else {
            throw StorageCode.badRequest("\(parameter): invalid character in field name '\(path)'")
        }
    }
}
