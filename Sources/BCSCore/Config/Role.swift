/// A role a `bcs serve` process can host; any subset runs in one process.
public enum Role: String, CaseIterable, Sendable, Comparable {
    case gateway
    case usermanager
    case storage

    /// Parses a comma-separated list (`gateway,storage`), rejecting unknown names and empty lists.
    public static func parseList(_ text: String) throws -> [Role] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        guard !names.isEmpty else {
            throw ConfigurationError("no roles given (valid: \(validNames))")
        }
        var roles: [Role] = []
        for name in names {
            guard let role = Role(rawValue: name) else {
                throw ConfigurationError("unknown role \"\(name)\" (valid: \(validNames))")
            }
            if !roles.contains(role) { roles.append(role) }
        }
        return roles.sorted()
    }

    public static var validNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Start order: storage and user-manager before the gateway that fronts them.
    private var order: Int {
        switch self {
        case .storage: return 0
        case .usermanager: return 1
        case .gateway: return 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.order < rhs.order }
}

import Foundation
