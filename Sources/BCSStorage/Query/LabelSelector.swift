import BCSMongo

/// A Kubernetes label selector (`app=web,tier!=db,env in (a,b),!legacy`) as a MongoDB filter on
/// `data.metadata.labels`.
///
/// Grammar as in apimachinery's `labels.Parse`: requirements separated by commas; `key`, `!key`,
/// `key=v`, `key==v`, `key!=v`, `key in (v1,v2)`, `key notin (v1,v2)`. Keys may carry a DNS prefix
/// (`app.kubernetes.io/name`); they are matched in their stored (escaped) form.
struct LabelSelector: Equatable {
    enum Requirement: Equatable {
        case exists(String)
        case notExists(String)
        case equals(String, String)
        case notEquals(String, String)
        case `in`(String, [String])
        case notIn(String, [String])
    }

    let requirements: [Requirement]

    init(parsing text: String) throws {
        var requirements: [Requirement] = []
        for part in try Self.splitTopLevel(text) {
            requirements.append(try Self.requirement(part))
        }
        self.requirements = requirements
    }

    /// The filter on `labelsPath` (the stored labels document).
    func filter(labelsPath: String = "data.metadata.labels") -> BSONDocument {
        var filter = BSONDocument()
        for requirement in requirements {
            switch requirement {
            case .exists(let k): filter[path(labelsPath, k)] = ["$exists": true]
            case .notExists(let k): filter[path(labelsPath, k)] = ["$exists": false]
            case .equals(let k, let v): filter[path(labelsPath, k)] = .string(v)
            case .notEquals(let k, let v): filter[path(labelsPath, k)] = ["$ne": .string(v)]
            case .in(let k, let vs): filter[path(labelsPath, k)] = ["$in": .array(vs.map(BSON.string))]
            case .notIn(let k, let vs): filter[path(labelsPath, k)] = ["$nin": .array(vs.map(BSON.string))]
            }
        }
        return filter
    }

    private func path(_ base: String, _ key: String) -> String { base + "." + FieldNames.escape(key) }

    /// Splits on commas that are not inside parentheses.
    private static func splitTopLevel(_ text: String) throws -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for c in text {
            switch c {
            case "(": depth += 1; current.append(c)
            case ")":
                depth -= 1
                guard depth >= 0 else { throw invalid(text, "unbalanced ')'") }
                current.append(c)
            case "," where depth == 0: parts.append(current); current = ""
            default: current.append(c)
            }
        }
        guard depth == 0 else { throw invalid(text, "unbalanced '('") }
        parts.append(current)
        let trimmed = parts.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !trimmed.contains(where: \.isEmpty) else { throw invalid(text, "empty requirement") }
        return trimmed
    }

    private static func requirement(_ text: String) throws -> Requirement {
        if text.hasPrefix("!") {
            return .notExists(try key(String(text.dropFirst()).trimmingCharacters(in: .whitespaces), in: text))
        }
        for (op, make) in [("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals)] {
            if let range = text.range(of: op) {
                let k = try key(text[..<range.lowerBound].trimmingCharacters(in: .whitespaces), in: text)
                let v = try value(text[range.upperBound...].trimmingCharacters(in: .whitespaces), in: text)
                return make(k, v)
            }
        }
        let words = text.split(separator: " ", maxSplits: 1).map(String.init)
        if words.count == 2 {
            let rest = words[1].trimmingCharacters(in: .whitespaces)
            for (op, make) in [("notin", Requirement.notIn), ("in", Requirement.in)] where rest.hasPrefix(op) {
                let list = rest.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw invalid(text, "expected '(' values ')' after \(op)") }
                let values = try list.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false).map {
                    try value($0.trimmingCharacters(in: .whitespaces), in: text)
                }
                return make(try key(words[0], in: text), values)
            }
            throw invalid(text, "unknown operator")
        }
        return .exists(try key(text, in: text))
    }

    private static let keyCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")
    private static let valueCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

    private static func key(_ k: String, in text: String) throws -> String {
        guard !k.isEmpty, k.count <= 317, k.allSatisfy({ keyCharacters.contains($0) }), !k.hasPrefix("$") else {
            throw invalid(text, "invalid label key '\(k)'")
        }
        return k
    }

    private static func value(_ v: String, in text: String) throws -> String {
        guard v.count <= 63, v.allSatisfy({ valueCharacters.contains($0) }) else {
            throw invalid(text, "invalid label value '\(v)'")
        }
        return v
    }

    private static func invalid(_ text: String, _ why: String) -> BCSAPIError {
        StorageCode.badRequest("labelSelector '\(text)': \(why)")
    }
}

import BCSCore
import Foundation
