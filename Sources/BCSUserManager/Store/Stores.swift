import Foundation

/// Where the user-manager keeps its state. One protocol per concept, so handlers do not know the
/// database and another store (an embedded one for a single node) can stand in.

public enum StoreError: Error, Equatable {
    /// A unique key (user name, cluster ID, register token of a cluster) is taken.
    case duplicate
}

public protocol UserStore: Sendable {
    func nextUserID() async throws -> Int
    /// User names are unique across all types, as in BCS.
    func user(name: String) async throws -> UserRecord?
    func user(tokenKey: String) async throws -> UserRecord?
    /// Throws `StoreError.duplicate` when the name (or token) is taken.
    func insert(_ user: UserRecord) async throws
    func replaceToken(name: String, tokenKey: String, sealedToken: String, expiresAt: Date, updatedAt: Date) async throws
    func updateExpiry(name: String, expiresAt: Date, updatedAt: Date) async throws
    /// Creates or overwrites a user wholesale (start-up bootstrap of the admin).
    func upsert(_ user: UserRecord) async throws
}

public protocol ClusterStore: Sendable {
    func nextID(_ sequence: String) async throws -> Int
    func cluster(id: String) async throws -> ClusterRecord?
    func clusters() async throws -> [ClusterRecord]
    /// Throws `StoreError.duplicate` when the ID is taken.
    func insert(_ cluster: ClusterRecord) async throws
    /// Whether a cluster was deleted.
    func deleteCluster(id: String) async throws -> Bool

    func registerToken(clusterID: String) async throws -> RegisterTokenRecord?
    /// Throws `StoreError.duplicate` when the cluster already has one.
    func insertRegisterToken(_ token: RegisterTokenRecord) async throws
    /// Replaces the cluster's token; false when it has none.
    func replaceRegisterToken(clusterID: String, tokenKey: String, sealedToken: String, createdAt: Date) async throws -> Bool
    func deleteRegisterToken(clusterID: String) async throws
}

/// A credentials record as the change feed reads it: present (reported) or deleted.
public struct CredentialsChangeRecord: Sendable {
    public var clusterID: String
    public var updatedAtMillis: Int64
    /// nil when the cluster was deleted.
    public var credentials: StoredCredentials?
}

public protocol CredentialStore: Sendable {
    /// Makes `tokenKey` the only register token a report for the cluster is accepted with,
    /// creating the (not yet reported) record when there is none.
    func armRegisterToken(clusterID: String, tokenKey: String) async throws
    /// Arms only when the cluster has no record at all — never over a live record or a deleted
    /// cluster's tombstone (the repair path of a report, which must not resurrect a deleted cluster).
    func armIfAbsent(clusterID: String, tokenKey: String) async throws
    /// Stores a report when the record's register-token key is `tokenKey`; false (and nothing
    /// written) otherwise. One conditional write: the token check and the update cannot be split.
    func report(clusterID: String, tokenKey: String, serverAddresses: String, sealedCACert: String, sealedUserToken: String, at: Date) async throws -> Bool
    func credentials(clusterID: String) async throws -> StoredCredentials?
    func allCredentials() async throws -> [StoredCredentials]
    /// Cluster ID → time of its last accepted report.
    func lastReports() async throws -> [String: Date]
    /// Forgets a cluster's credentials and token key, leaving a tombstone the change feed sees.
    func markDeleted(clusterID: String, at: Date) async throws
    /// Records changed at or after `millis` (reports and deletions), oldest first.
    func changes(sinceMillis millis: Int64, limit: Int) async throws -> [CredentialsChangeRecord]
}

public protocol PermissionStore: Sendable {
    func role(name: String) async throws -> RoleRecord?
    /// Creates the roles that do not exist yet; existing ones are left as they are.
    func seed(_ roles: [RoleRecord]) async throws
    func grants(userName: String) async throws -> [Grant]
    /// Adds grants, skipping those that exist.
    func insert(_ grants: [Grant]) async throws
    func delete(_ grants: [Grant]) async throws
    /// Removes every grant on one resource (a deleted cluster's).
    func deleteGrants(resourceType: String, resource: String) async throws
}
