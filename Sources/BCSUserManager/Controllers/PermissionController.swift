import BCSCore
import Foundation
import Hummingbird
import Logging
import NIOFoundationCompat

/// `/usermanager/v1/permissions`: grant, query, revoke and verify (admin only).
///
/// Grant and revoke take BCS's object (`apiVersion: v1`, `kind: permission`, `spec.permissions`).
/// Every entry is checked before anything is written, so a bad entry changes nothing. Query and
/// verify read their fields from a JSON body (BCS sends GET with a body) or from query parameters;
/// body fields win. Verification reads the grants from MongoDB each time, so a revoked grant stops
/// working at once.
struct PermissionController {
    let services: UserManagerServices

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.post("permissions") { request, context in try await grant(request, context) }
        group.delete("permissions") { request, context in try await revoke(request, context) }
        group.get("permissions") { request, context in try await query(request, context) }
        group.get("permissions/verify") { request, context in try await verify(request, context) }
    }

    func grant(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let caller = try await services.auth.authenticate(request, requiring: .admin)
        let grants = try await parse(request)
        try await services.permissions.insert(grants)
        services.logger.info("usermanager: permissions granted", metadata: ["count": "\(grants.count)", "by": "\(caller.name)"])
        return bcsSuccessNoData()
    }

    func revoke(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let caller = try await services.auth.authenticate(request, requiring: .admin)
        let grants = try await parse(request)
        try await services.permissions.delete(grants)
        services.logger.info("usermanager: permissions revoked", metadata: ["count": "\(grants.count)", "by": "\(caller.name)"])
        return bcsSuccessNoData()
    }

    /// Validates a permission object completely; throws on the first bad entry.
    private func parse(_ request: Request) async throws -> [Grant] {
        let object = try await services.decode(PermissionObject.self, from: request)
        guard object.kind == "permission" else {
            throw UMError.badRequest("kind must be 'permission', not '\(Validate.printable(object.kind ?? ""))'")
        }
        guard object.apiVersion == "v1" else {
            throw UMError.badRequest("apiVersion must be 'v1', not '\(Validate.printable(object.apiVersion ?? ""))'")
        }
        guard let entries = object.spec?.permissions, !entries.isEmpty else {
            throw UMError.badRequest("field 'spec.permissions' is required and must not be empty")
        }
        guard entries.count <= 1000 else { throw UMError.badRequest("at most 1000 permissions per request") }
        var grants: [Grant] = []
        for (index, entry) in entries.enumerated() {
            let field = "spec.permissions[\(index)]"
            let userName = try Validate.required(entry.user_name, "\(field).user_name", maxBytes: 64)
            let resourceType = try Validate.required(entry.resource_type, "\(field).resource_type", maxBytes: 64)
            let roleName = try Validate.required(entry.role, "\(field).role", maxBytes: 64)
            let resource = entry.resource ?? ""
            guard resource.utf8.count <= 256 else { throw UMError.badRequest("field '\(field).resource' is too long") }
            guard try await services.users.user(name: userName) != nil else {
                throw UMError.badRequest("\(field): user [\(Validate.printable(userName))] not found")
            }
            guard try await services.permissions.role(name: roleName) != nil else {
                throw UMError.badRequest("\(field): role [\(Validate.printable(roleName))] not found (seeded roles: manager, viewer)")
            }
            grants.append(Grant(userName: userName, resourceType: resourceType, resource: resource, role: roleName))
        }
        return grants
    }

    func query(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        var form = try await bodyOrNil(PermissionQuery.self, request) ?? PermissionQuery()
        let params = request.uri.queryParameters
        form.user_name = form.user_name ?? params["user_name"].map(String.init)
        form.resource_type = form.resource_type ?? params["resource_type"].map(String.init)
        let userName = try Validate.required(form.user_name, "user_name", maxBytes: 64)
        let resourceType = try Validate.required(form.resource_type, "resource_type", maxBytes: 64)
        guard try await services.users.user(name: userName) != nil else {
            throw UMError.badRequest("user [\(Validate.printable(userName))] not found")
        }
        let grants = try await services.permissions.grants(userName: userName).filter { $0.resourceType == resourceType }
        return bcsSuccess(grants.map { GrantResponse(resource_type: $0.resourceType, resource: $0.resource, role: $0.role) })
    }

    func verify(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        var form = try await bodyOrNil(PermissionVerifyRequest.self, request) ?? PermissionVerifyRequest()
        let params = request.uri.queryParameters
        form.user_token = form.user_token ?? params["user_token"].map(String.init)
        form.resource_type = form.resource_type ?? params["resource_type"].map(String.init)
        form.resource = form.resource ?? params["resource"].map(String.init)
        form.action = form.action ?? params["action"].map(String.init)
        let token = try Validate.required(form.user_token, "user_token", maxBytes: 512)
        let resourceType = try Validate.required(form.resource_type, "resource_type", maxBytes: 64)
        let action = try Validate.required(form.action, "action", maxBytes: 32)
        let decision = try await PermissionDecision.decide(
            token: token, resourceType: resourceType, resource: form.resource ?? "", action: action, services: services)
        return bcsSuccess(VerifyResponse(allowed: decision.allowed, message: decision.message))
    }

    /// The JSON body when there is one (GET with a body, as BCS sends), else nil.
    private func bodyOrNil<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T? {
        let buffer = try await BCSBody.collect(request, limit: UserManagerServices.bodyLimit, code: UserManagerCode.badRequest)
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try JSONDecoder().decode(type, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw UMError.badRequest(BCSBody.describe(error))
        }
    }
}

/// BCS's permission decision for one token, resource and action.
///
/// Admins may do everything. Other users need a grant of the resource type whose role lists the
/// action (case-sensitive); for the types `cluster` and `storage` the grant must also name the
/// resource or `*`, for other types the resource is not compared (as in BCS).
enum PermissionDecision {
    struct Result: Equatable {
        let allowed: Bool
        let message: String
    }

    static let resourceScopedTypes: Set<String> = ["cluster", "storage"]

    static func decide(token: String, resourceType: String, resource: String, action: String, services: UserManagerServices) async throws -> Result {
        // BCS echoes the token in these messages; it is left out here so responses never carry it.
        guard let user = try await services.auth.user(forToken: token) else { return Result(allowed: false, message: "usertoken is invalid") }
        if user.isExpired() { return Result(allowed: false, message: "usertoken is expired") }
        if user.type == .admin { return Result(allowed: true, message: "admin user") }
        var roles: [String: RoleRecord?] = [:]
        for grant in try await services.permissions.grants(userName: user.name) where grant.resourceType == resourceType {
            if resourceScopedTypes.contains(resourceType), grant.resource != resource, grant.resource != "*" { continue }
            if roles[grant.role] == nil { roles[grant.role] = .some(try await services.permissions.role(name: grant.role)) }
            if let role = roles[grant.role] ?? nil, role.actionList.contains(action) {
                return Result(allowed: true, message: "")
            }
        }
        return Result(allowed: false, message: "no permission")
    }
}
