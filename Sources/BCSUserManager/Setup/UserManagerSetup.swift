import BCSMongo
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Whether the user-manager's start-up work is done; routes answer 503 until it is.
public final class SetupState: Sendable {
    private let done = Atomic<Bool>(false)
    public init() {}
    public var isReady: Bool { done.load(ordering: .acquiring) }
    func markReady() { done.store(true, ordering: .releasing) }
}

/// Start-up work that needs MongoDB: indexes, the seeded roles, the bootstrap admin.
///
/// It retries while MongoDB is unreachable (with a capped backoff, so an outage of any length is
/// waited out rather than exhausting the supervisor's restart budget), then marks the role ready
/// and stays up until shutdown. A non-transient failure — the bootstrap admin's name taken by a
/// user of another type — is thrown, logged and restarted by the supervisor.
struct UserManagerSetup: Service {
    let database: MongoDatabase
    let users: any UserStore
    let permissions: any PermissionStore
    let box: SecretBox
    let bootstrapAdmin: (name: String, token: String)?
    let state: SetupState
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await setUpRetrying() }
        } catch is CancellationError {
            return  // shut down before MongoDB came back
        }
        state.markReady()
        logger.info("usermanager: ready (indexes, roles, bootstrap admin in place)")
        try? await gracefulShutdown()
    }

    /// `setUp()`, retried with a capped backoff while MongoDB is unreachable.
    private func setUpRetrying() async throws {
        var delay = Duration.milliseconds(200)
        while true {
            do {
                return try await setUp()
            } catch let error as MongoError where error.isTransient {
                logger.warning("usermanager: MongoDB unavailable during start-up, retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    func setUp() async throws {
        try await UserManagerCollections.createIndexes(in: database)
        try await permissions.seed(RoleRecord.seeded)
        if let admin = bootstrapAdmin { try await bootstrap(name: admin.name, token: admin.token) }
    }

    /// Creates the admin, or gives the existing admin of that name this token (BCS only created).
    func bootstrap(name: String, token: String) async throws {
        let now = Date()
        let key = box.lookupKey(token, purpose: .userToken)
        let sealed = try box.seal(token, context: UserRecord.sealContext(name: name))
        let expires = now.addingTimeInterval(UserType.admin.tokenLifetime)
        if let existing = try await users.user(name: name) {
            guard existing.type == .admin else {
                throw BootstrapConflict(message: "--bootstrap-admin: user \(name) exists as a \(existing.type.name) user, not an admin")
            }
            try await users.replaceToken(name: name, tokenKey: key, sealedToken: sealed, expiresAt: expires, updatedAt: now)
            logger.info("usermanager: bootstrap admin updated", metadata: ["user": "\(name)"])
        } else {
            let user = UserRecord(id: try await users.nextUserID(), name: name, type: .admin, tokenKey: key, sealedToken: sealed,
                                  createdAt: now, updatedAt: now, expiresAt: expires)
            do {
                try await users.upsert(user)
            } catch StoreError.duplicate {
                throw BootstrapConflict(message: "--bootstrap-admin: the token is already another user's token")
            }
            logger.info("usermanager: bootstrap admin created", metadata: ["user": "\(name)"])
        }
    }

    struct BootstrapConflict: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
