/// A role: a name and the HTTP verbs it allows (BCS seeds `manager` and `viewer`).
public struct RoleRecord: Sendable, Equatable {
    public var name: String
    /// Comma-separated, matched case-sensitively (`GET,POST,PUT,PATCH,DELETE`).
    public var actions: String

    public var actionList: [String] { actions.split(separator: ",").map { String($0) } }

    public static let seeded: [RoleRecord] = [
        RoleRecord(name: "manager", actions: "GET,POST,PUT,PATCH,DELETE"),
        RoleRecord(name: "viewer", actions: "GET"),
    ]
}

/// One grant: a user holds a role on a resource (`*` for every resource of the type).
public struct Grant: Sendable, Hashable {
    public var userName: String
    public var resourceType: String
    public var resource: String
    public var role: String

    public init(userName: String, resourceType: String, resource: String, role: String) {
        self.userName = userName
        self.resourceType = resourceType
        self.resource = resource
        self.role = role
    }
}

/// BCS's permission object for grant and revoke.
struct PermissionObject: Decodable {
    let apiVersion: String?
    let kind: String?
    let metadata: Metadata?
    let spec: Spec?

    struct Metadata: Decodable { let name: String? }
    struct Spec: Decodable { let permissions: [Entry]? }
    struct Entry: Decodable {
        let user_name: String?
        let resource_type: String?
        let resource: String?
        let role: String?
    }
}

struct PermissionQuery: Decodable {
    var user_name: String?
    var resource_type: String?
}

struct PermissionVerifyRequest: Decodable {
    var user_token: String?
    var resource_type: String?
    var resource: String?
    var action: String?
}

struct GrantResponse: Encodable {
    let resource_type: String
    let resource: String
    let role: String
}

struct VerifyResponse: Encodable {
    let allowed: Bool
    let message: String
}
