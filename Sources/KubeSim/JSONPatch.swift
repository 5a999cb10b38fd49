import Foundation
import BCSMongo

/// RFC 6902 JSON Patch (`kubectl patch --type=json`): add, remove, replace, move, copy, test.
enum JSONPatch {
    static func apply(_ operations: BSON, to document: BSONDocument) throws(KubeStatus) -> BSONDocument {
        guard case .array(let ops) = operations else { throw .badRequest("a JSON patch must be an array of operations") }
        var root: BSON = .document(document)
        for op in ops {
            let fields = op.doc
            guard let name = fields["op"]?.stringValue, let path = fields["path"]?.stringValue else {
                throw .badRequest("a JSON patch operation needs \"op\" and \"path\"")
            }
            let pointer = try parse(path)
            switch name {
            case "add": root = try set(root, pointer[...], value: try value(fields), insert: true)
            case "replace":
                guard get(root, pointer[...]) != nil else { throw .unprocessable("replace operation does not apply: doc is missing path: \(path)") }
                root = try set(root, pointer[...], value: try value(fields), insert: false)
            case "remove":
                guard get(root, pointer[...]) != nil else { throw .unprocessable("remove operation does not apply: doc is missing path: \(path)") }
                root = try set(root, pointer[...], value: nil, insert: false)
            case "test":
                guard get(root, pointer[...]) == (try value(fields)) else { throw .unprocessable("testing value \(path) failed") }
            case "move", "copy":
                guard let fromPath = fields["from"]?.stringValue, let moved = get(root, try parse(fromPath)[...]) else {
                    throw .unprocessable("\(name) operation does not apply: doc is missing from path")
                }
                if name == "move" { root = try set(root, try parse(fromPath)[...], value: nil, insert: false) }
                root = try set(root, pointer[...], value: moved, insert: true)
            default:
                throw .badRequest("unknown JSON patch operation \"\(name)\"")
            }
        }
        guard case .document(let result) = root else { throw .badRequest("the patch replaced the whole object") }
        return result
    }

    private static func value(_ fields: BSONDocument) throws(KubeStatus) -> BSON {
        guard let value = fields["value"] else { throw .badRequest("a JSON patch operation is missing its \"value\"") }
        return value
    }

    private static func parse(_ path: String) throws(KubeStatus) -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw .badRequest("invalid JSON pointer \(path)") }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ node: BSON, _ pointer: ArraySlice<String>) -> BSON? {
        guard let key = pointer.first else { return node }
        switch node {
        case .document(let doc): return doc[key].flatMap { get($0, pointer.dropFirst()) }
        case .array(let list): return Int(key).flatMap { list.indices.contains($0) ? get(list[$0], pointer.dropFirst()) : nil }
        default: return nil
        }
    }

    /// Returns `node` with the value at `pointer` set (nil removes; `insert` inserts into arrays).
    private static func set(_ node: BSON, _ pointer: ArraySlice<String>, value: BSON?, insert: Bool) throws(KubeStatus) -> BSON {
        guard let key = pointer.first else {
            guard let value else { throw .badRequest("cannot remove the whole object") }
            return value
        }
        let last = pointer.count == 1
        switch node {
        case .document(var doc):
            if last {
                doc[key] = value
            } else {
                guard let child = doc[key] else { throw .unprocessable("doc is missing path: /\(pointer.joined(separator: "/"))") }
                doc[key] = try set(child, pointer.dropFirst(), value: value, insert: insert)
            }
            return .document(doc)
        case .array(var list):
            let index = key == "-" ? list.count : Int(key) ?? -1
            if last {
                if let value, insert {
                    guard (0...list.count).contains(index) else { throw .unprocessable("array index \(key) out of bounds") }
                    list.insert(value, at: index)
                } else {
                    guard list.indices.contains(index) else { throw .unprocessable("array index \(key) out of bounds") }
                    if let value { list[index] = value } else { list.remove(at: index) }
                }
            } else {
                guard list.indices.contains(index) else { throw .unprocessable("array index \(key) out of bounds") }
                list[index] = try set(list[index], pointer.dropFirst(), value: value, insert: insert)
            }
            return .array(list)
        default:
            throw .unprocessable("doc is missing path: /\(pointer.joined(separator: "/"))")
        }
    }
}
