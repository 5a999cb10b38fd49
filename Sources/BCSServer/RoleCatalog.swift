import BCSCore
import BCSGateway
import BCSStorage
import BCSUserManager
import Synchronization

/// The role modules `bcs serve` can host, and the settings they add.
///
/// This is the one place that knows every role: adding a role means adding its module here.
enum RoleCatalog {
    /// Settings declared by role modules (beside the process's own).
    static var settings: [SettingSpec] { StorageRole.settings + UserManagerRole.settingSpecs + GatewayRole.settings }

    /// In-process links between co-hosted roles, made once per process.
    ///
    /// Roles are built in start order (storage, usermanager, gateway), so the user-manager has left
    /// its access decisions here by the time a co-hosted gateway is built.
    final class Links: Sendable {
        /// The user-manager's credential changes, which a co-hosted gateway's cluster actors consume.
        let credentialFeed = CredentialFeed()
        private let userManagerAccess = Mutex<AccessControl?>(nil)

        var access: AccessControl? {
            get { userManagerAccess.withLock { $0 } }
            set { userManagerAccess.withLock { $0 = newValue } }
        }
    }

    /// Builds the module for `role`; nil while a role has no module of its own yet.
    static func module(for role: Role, context: RoleContext, links: Links = Links(), coHosted: [Role] = Role.allCases) throws -> (any RoleModule)? {
        switch role {
        case .storage: return try StorageRole(context: context)
        case .usermanager:
            let module = try UserManagerRole(context: context, feed: links.credentialFeed)
            links.access = module.accessControl
            return module
        case .gateway:
            if let access = links.access {
                return try GatewayRole(context: context, access: access, feed: links.credentialFeed, coHosted: coHosted)
            }
            // The user-manager runs elsewhere: read its data from the shared MongoDB.
            let shared = try SharedDatabaseAccess(context: context, feed: links.credentialFeed)
            let watcher = BackgroundService(name: "gateway-credential-watcher", role: Role.gateway.rawValue) { shared.credentialWatcher }
            return try GatewayRole(context: context, access: shared.access, feed: links.credentialFeed, coHosted: coHosted, extraServices: [watcher])
        }
    }
}
