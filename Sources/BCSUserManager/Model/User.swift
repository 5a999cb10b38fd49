import Foundation

/// BCS's three kinds of user: admin (1), saas (2) and plain (3).
public enum UserType: Int, Sendable, CaseIterable {
    case admin = 1
    case saas = 2
    case plain = 3

    /// The path segment BCS uses (`/users/admin/{name}`).
    public init?(pathSegment: String) {
        switch pathSegment {
        case "admin": self = .admin
        case "saas": self = .saas
        case "plain": self = .plain
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .admin: return "admin"
        case .saas: return "saas"
        case .plain: return "plain"
        }
    }

    /// How long a freshly issued token lives: 24 h for plain users, "ten years" (never) for the others.
    public var tokenLifetime: TimeInterval {
        self == .plain ? 24 * 3600 : 10 * 365 * 24 * 3600
    }
}

/// A stored user: the token only as a lookup hash and a sealed copy, never in plain text.
public struct UserRecord: Sendable, Equatable {
    public var id: Int
    public var name: String
    public var type: UserType
    /// HMAC-SHA256 of the token (`SecretBox.lookupKey`), unique.
    public var tokenKey: String
    /// AES-GCM copy of the token, returned by the GET routes as BCS does.
    public var sealedToken: String
    public var createdAt: Date
    public var updatedAt: Date
    public var expiresAt: Date

    public func isExpired(at now: Date = Date()) -> Bool { now > expiresAt }

    /// The associated data binding a user's sealed token to that user.
    static func sealContext(name: String) -> String { "users/\(name)/user_token" }
}

/// The user object BCS returns as `data` on every user route.
struct UserResponse: Encodable {
    let id: Int
    let name: String
    let user_type: Int
    let user_token: String
    let created_at: String
    let updated_at: String
    let expires_at: String
}

/// Times as Go's `time.Time` marshals them: RFC 3339 with the server's offset, fractional seconds kept.
enum BCSTime {
    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .current))
    }

    /// Milliseconds since the epoch, the form stored in MongoDB (see Docs/compatibility.md, "User-manager").
    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
