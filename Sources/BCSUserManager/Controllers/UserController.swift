import BCSCore
import Foundation
import Hummingbird
import Logging

/// `/usermanager/v1/users/{admin|saas|plain}/{user_name}`: create, get and refresh users.
///
/// Admin and saas users are managed by admins; plain users by admins or saas users. Tokens are 32
/// random characters of `[A-Za-z0-9]`; plain tokens live 24 h, admin and saas tokens ten years.
struct UserController {
    let services: UserManagerServices

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.post("users/{user_type}/{user_name}") { request, context in try await create(request, context) }
        group.get("users/{user_type}/{user_name}") { request, context in try await get(request, context) }
        group.put("users/{user_type}/{user_name}/refresh") { request, context in try await refreshSaas(request, context) }
        group.put("users/{user_type}/{user_name}/refresh/{expire_time}") { request, context in try await refreshPlain(request, context) }
    }

    /// Authenticates for the user type in the path, then parses the type and name.
    private func target(_ request: Request, _ context: BCSRequestContext) async throws -> (UserType, String, caller: UserRecord) {
        let segment = context.parameters.get("user_type") ?? ""
        let caller = try await services.auth.authenticate(request, requiring: segment == "plain" ? .adminOrSaas : .admin)
        guard let type = UserType(pathSegment: segment) else {
            throw UMError.badRequest("unknown user type '\(Validate.printable(segment))': use admin, saas or plain")
        }
        return (type, try Validate.userName(context.parameters.get("user_name")), caller)
    }

    func create(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let (type, name, _) = try await target(request, context)
        if let existing = try await services.users.user(name: name) {
            if existing.type == type { throw UMError.badRequest("user [\(name)] already exist") }
            // BCS: names are unique across types and the insert fails as a database error (500, 1405062).
            throw UMError.database("user name [\(name)] is taken by a \(existing.type.name) user")
        }
        let now = Date()
        let token = TokenGenerator.userToken()
        let user = UserRecord(
            id: try await services.users.nextUserID(), name: name, type: type,
            tokenKey: services.box.lookupKey(token, purpose: .userToken),
            sealedToken: try services.box.seal(token, context: UserRecord.sealContext(name: name)),
            createdAt: now, updatedAt: now, expiresAt: now.addingTimeInterval(type.tokenLifetime)
        )
        do {
            try await services.users.insert(user)
        } catch StoreError.duplicate {
            throw UMError.badRequest("user [\(name)] already exist")
        }
        services.logger.info("usermanager: user created", metadata: ["user": "\(name)", "type": "\(type.name)"])
        return bcsSuccess(Self.response(user, token: token))
    }

    func get(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let (type, name, _) = try await target(request, context)
        let user = try await existing(name: name, type: type)
        return bcsSuccess(Self.response(user, token: try services.open(user.sealedToken, context: UserRecord.sealContext(name: name))))
    }

    /// `PUT /users/saas/{name}/refresh`: always a new token, valid ten years.
    func refreshSaas(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let (type, name, _) = try await target(request, context)
        guard type == .saas else {
            throw UMError.badRequest(type == .plain
                ? "plain users are refreshed with PUT /usermanager/v1/users/plain/{user_name}/refresh/{expire_time}"
                : "admin tokens cannot be refreshed (BCS has no such route)")
        }
        var user = try await existing(name: name, type: .saas)
        let token = TokenGenerator.userToken()
        try await replaceToken(&user, token: token, expiresAt: Date().addingTimeInterval(UserType.saas.tokenLifetime))
        return bcsSuccess(Self.response(user, token: token))
    }

    /// `PUT /users/plain/{name}/refresh/{days}`: extends the token to now + days; an expired token is replaced.
    func refreshPlain(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let (type, name, _) = try await target(request, context)
        guard type == .plain else {
            throw UMError.badRequest("only plain users are refreshed with an expire_time; saas users use PUT .../users/saas/{user_name}/refresh")
        }
        let raw = context.parameters.get("expire_time") ?? ""
        guard let days = Int(raw), days >= 0, days <= 36_500 else {
            throw UMError.badRequest("expire_time '\(Validate.printable(raw))' must be a whole number of days from 0 to 36500")
        }
        var user = try await existing(name: name, type: .plain)
        let now = Date()
        let expiresAt = now.addingTimeInterval(Double(days) * 86_400)
        let token: String
        if user.isExpired(at: now) {
            token = TokenGenerator.userToken()
            try await replaceToken(&user, token: token, expiresAt: expiresAt)
        } else {
            token = try services.open(user.sealedToken, context: UserRecord.sealContext(name: name))
            try await services.users.updateExpiry(name: name, expiresAt: expiresAt, updatedAt: now)
            user.expiresAt = expiresAt
            user.updatedAt = now
        }
        return bcsSuccess(Self.response(user, token: token))
    }

    private func existing(name: String, type: UserType) async throws -> UserRecord {
        guard let user = try await services.users.user(name: name), user.type == type else {
            throw UMError.notFound("user [\(name)] not found")
        }
        return user
    }

    private func replaceToken(_ user: inout UserRecord, token: String, expiresAt: Date) async throws {
        let now = Date()
        user.tokenKey = services.box.lookupKey(token, purpose: .userToken)
        user.sealedToken = try services.box.seal(token, context: UserRecord.sealContext(name: user.name))
        user.expiresAt = expiresAt
        user.updatedAt = now
        try await services.users.replaceToken(name: user.name, tokenKey: user.tokenKey, sealedToken: user.sealedToken, expiresAt: expiresAt, updatedAt: now)
        services.logger.info("usermanager: user token replaced", metadata: ["user": "\(user.name)"])
    }

    static func response(_ user: UserRecord, token: String) -> UserResponse {
        UserResponse(id: user.id, name: user.name, user_type: user.type.rawValue, user_token: token,
                     created_at: BCSTime.format(user.createdAt), updated_at: BCSTime.format(user.updatedAt), expires_at: BCSTime.format(user.expiresAt))
    }
}
