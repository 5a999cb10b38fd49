/// The user-manager's decisions, offered to other roles hosted in the same process (the gateway).
///
/// The gateway authorises every proxied request before it leaves: who the bearer token belongs to,
/// and whether that user may use the verb on the cluster (admins: everything; others: a `cluster`
/// grant naming the cluster or `*` whose role lists the verb — `manager` or `viewer` for GET).
public struct AccessControl: Sendable {
    public enum Decision: Sendable, Equatable {
        /// `admin` users may use everything, including `Impersonate-*` headers of their own.
        case allowed(user: String, admin: Bool)
        /// No token, an unknown token or an expired one (401).
        case unauthenticated(String)
        /// A valid user without the permission (403).
        case forbidden(String)
    }

    let services: UserManagerServices

    /// Decides whether the bearer of `token` may perform `action` (an HTTP verb) on `resource` of `resourceType`.
    public func decide(token: String?, resourceType: String, resource: String, action: String) async throws -> Decision {
        guard let token, !token.isEmpty, token.utf8.count <= 512 else { return .unauthenticated("no bearer token given") }
        guard let user = try await services.auth.user(forToken: token) else { return .unauthenticated("the bearer token is not valid") }
        if user.isExpired() { return .unauthenticated("the bearer token has expired") }
        let result = try await PermissionDecision.decide(token: token, resourceType: resourceType, resource: resource, action: action, services: services)
        return result.allowed ? .allowed(user: user.name, admin: user.type == .admin) : .forbidden("user \(user.name) may not \(action) \(resourceType) \(resource)")
    }

    /// Every cluster's current credentials, for a gateway starting up (later changes come from the feed).
    public func currentCredentials() async throws -> [ClusterCredentials] {
        try await services.credentials.allCredentials().compactMap { try? CredentialCodec.open($0, box: services.box) }
    }
}

extension UserManagerRole {
    /// This role's access decisions, for a co-hosted gateway.
    public var accessControl: AccessControl { AccessControl(services: services) }
}
