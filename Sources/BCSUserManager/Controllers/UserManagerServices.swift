import BCSCore
import Foundation
import Hummingbird
import Logging

/// What the controllers share: the stores, the secret box, authentication, the credential feed.
struct UserManagerServices: Sendable {
    let users: any UserStore
    let clusters: any ClusterStore
    let credentials: any CredentialStore
    let permissions: any PermissionStore
    let box: SecretBox
    let feed: CredentialFeed
    let logger: Logger

    /// Largest request body any user-manager route reads (a credentials report with a CA bundle).
    static let bodyLimit = 64 * 1024

    var auth: BearerAuth { BearerAuth(users: users, box: box) }

    /// Decodes a JSON body with BCS's bad-request code; the Content-Type header is not required.
    func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try await BCSBody.decode(type, from: request, limit: Self.bodyLimit, code: UserManagerCode.badRequest)
    }

    /// Opens a sealed secret; a failure means the server secret changed since it was stored.
    func open(_ sealed: String, context: String) throws -> String {
        do {
            return try box.open(sealed, context: context)
        } catch {
            throw unreadableSecret(context)
        }
    }

    /// Logs (by record, never the value) and describes a stored secret this server cannot decrypt.
    func unreadableSecret(_ record: String) -> BCSAPIError {
        logger.error("usermanager: a stored secret cannot be opened (was the server secret changed?)", metadata: ["record": "\(record)"])
        return BCSAPIError(.internalServerError, code: UserManagerCode.internalFail,
                           "errcode: \(UserManagerCode.internalFail), a stored secret cannot be decrypted with this server's secret key")
    }
}
