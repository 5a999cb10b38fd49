import BCSCore
import BCSStorage
import BCSUserManager

/// The role modules `bcs serve` can host, and the settings they add.
///
/// This is the one place that knows every role: adding a role means adding its module here.
enum RoleCatalog {
    /// Settings declared by role modules (beside the process's own).
    static var settings: [SettingSpec] { StorageRole.settings + UserManagerRole.settingSpecs }

    /// In-process links between co-hosted roles, made once per process.
    struct Links: Sendable {
        /// The user-manager's credential changes, which a co-hosted gateway's cluster actors consume.
        let credentialFeed = CredentialFeed()
    }

    /// Builds the module for `role`; nil while a role has no module of its own yet.
    static func module(for role: Role, context: RoleContext, links: Links = Links()) throws -> (any RoleModule)? {
        switch role {
        case .storage: return try StorageRole(context: context)
        case .usermanager: return try UserManagerRole(context: context, feed: links.credentialFeed)
        case .gateway: return nil
        }
    }
}
