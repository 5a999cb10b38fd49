import Foundation
import BCSMongo

/// A parsed `labelSelector` or `fieldSelector`: requirements that must all hold.
///
/// Label syntax: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. Field selectors
/// use `=`, `==` and `!=` on dotted paths (`metadata.name`, `involvedObject.uid`).
struct Selector: Sendable {
    enum Requirement: Sendable {
        case equals(String, String), notEquals(String, String), exists(String), notExists(String)
        case isIn(String, Set<String>), notIn(String, Set<String>)
    }
    let requirements: [Requirement]

    static let everything = Selector(requirements: [])

    init(requirements: [Requirement]) { self.requirements = requirements }

    init(parsing text: String) throws(KubeStatus) {
        var requirements: [Requirement] = []
        for clause in Self.splitTopLevel(text) {
            let part = clause.trimmingCharacters(in: .whitespaces)
            if part.isEmpty { continue }
            if let range = part.range(of: " notin ") ?? part.range(of: " in ") {
                let key = part[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let list = part[range.upperBound...].trimmingCharacters(in: .whitespaces)
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw .badRequest("unable to parse requirement: \(part)") }
                let values = Set(list.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                requirements.append(part[range].contains("notin") ? .notIn(key, values) : .isIn(key, values))
            } else if let range = part.range(of: "!=") {
                requirements.append(.notEquals(String(part[..<range.lowerBound]), String(part[range.upperBound...])))
            } else if let range = part.range(of: "==") ?? part.range(of: "=") {
                requirements.append(.equals(String(part[..<range.lowerBound]), String(part[range.upperBound...])))
            } else if part.hasPrefix("!") {
                requirements.append(.notExists(String(part.dropFirst())))
            } else {
                requirements.append(.exists(part))
            }
        }
        self.requirements = requirements
    }

    private static func splitTopLevel(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for char in text {
            if char == "(" { depth += 1 } else if char == ")" { depth -= 1 }
            if char == ",", depth == 0 { parts.append(current); current = "" } else { current.append(char) }
        }
        parts.append(current)
        return parts
    }

    /// Whether the values looked up through `value(key)` satisfy every requirement.
    func matches(_ value: (String) -> String?) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let k, let v): return value(k) == v
            case .notEquals(let k, let v): return value(k) != v
            case .exists(let k): return value(k) != nil
            case .notExists(let k): return value(k) == nil
            case .isIn(let k, let set): return value(k).map(set.contains) ?? false
            case .notIn(let k, let set): return !(value(k).map(set.contains) ?? false)
            }
        }
    }

    func matchesLabels(of object: BSONDocument) -> Bool {
        let labels = object["metadata"]?.doc["labels"]?.doc ?? BSONDocument()
        return matches { labels[$0]?.stringValue }
    }

    func matchesFields(of object: BSONDocument) -> Bool {
        matches { path in
            guard let value = BSON.document(object)[path: path.split(separator: ".").map(String.init)] else { return nil }
            switch value {
            case .string(let s): return s
            case .int32(let i): return String(i)
            case .int64(let i): return String(i)
            case .bool(let b): return String(b)
            default: return nil
            }
        }
    }
}
