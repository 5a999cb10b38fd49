import BCSCore
import Foundation
import Hummingbird

/// Authenticates callers by `Authorization: Bearer <token>`, as BCS's user-manager does.
///
/// The header must be exactly the scheme `Bearer`, one space and the token. The token is looked up
/// by its keyed hash and the stored hash is compared again in constant time. Unknown, expired and
/// missing tokens all get BCS's 401 (code 1405059); a valid token of the wrong user type gets the
/// same status and code with a message naming what the route needs.
struct BearerAuth: Sendable {
    enum Requirement {
        case admin
        case adminOrSaas
    }

    let users: any UserStore
    let box: SecretBox

    /// The bearer token of `request`, or nil.
    static func token(of request: Request) -> String? { request.bearerToken }

    /// The user behind a token, if it exists (expired or not).
    func user(forToken token: String) async throws -> UserRecord? {
        let key = box.lookupKey(token, purpose: .userToken)
        guard let user = try await users.user(tokenKey: key), box.matches(token, storedKey: user.tokenKey, purpose: .userToken) else {
            return nil
        }
        return user
    }

    /// The authenticated caller, or a thrown 401.
    func authenticate(_ request: Request, requiring requirement: Requirement) async throws -> UserRecord {
        guard let token = Self.token(of: request), let user = try await user(forToken: token), !user.isExpired() else {
            throw UMError.unauthorized()
        }
        switch (requirement, user.type) {
        case (.admin, .admin), (.adminOrSaas, .admin), (.adminOrSaas, .saas):
            return user
        case (.admin, _):
            throw UMError.unauthorized("errcode：1405059,  this route needs an admin user token")
        case (.adminOrSaas, _):
            throw UMError.unauthorized("errcode：1405059,  this route needs an admin or saas user token")
        }
    }
}
