import Foundation

/// BCS's cluster types: `k8s` (1), `mesos` (2), `tke` (3).
public enum ClusterType: Int, Sendable {
    case k8s = 1
    case mesos = 2
    case tke = 3

    public init?(name: String) {
        switch name {
        case "k8s": self = .k8s
        case "mesos": self = .mesos
        case "tke": self = .tke
        default: return nil
        }
    }
}

/// A registered cluster (`bcs_clusters`).
public struct ClusterRecord: Sendable, Equatable {
    public var id: String
    public var type: ClusterType
    public var tkeClusterID: String
    public var tkeClusterRegion: String
    public var creatorID: Int
    public var createdAt: Date
}

/// A cluster's register token (`bcs_register_tokens`): one per cluster, hashed and sealed at rest.
public struct RegisterTokenRecord: Sendable, Equatable {
    public var id: Int
    public var clusterID: String
    public var tokenKey: String
    public var sealedToken: String
    public var createdAt: Date

    static func sealContext(clusterID: String) -> String { "register_tokens/\(clusterID)/token" }
}

/// The credentials an agent reported for its cluster, as stored (secrets sealed).
public struct StoredCredentials: Sendable, Equatable {
    public var id: Int
    public var clusterID: String
    public var serverAddresses: String
    public var sealedCACert: String
    public var sealedUserToken: String
    public var clusterDomain: String
    public var createdAt: Date
    public var updatedAt: Date

    static func caContext(clusterID: String) -> String { "cluster_credentials/\(clusterID)/ca_cert_data" }
    static func userTokenContext(clusterID: String) -> String { "cluster_credentials/\(clusterID)/user_token" }
}

/// One cluster's credentials in plain form, for the cluster actors (never logged: see `description`).
public struct ClusterCredentials: Sendable, Equatable, CustomStringConvertible {
    public var clusterID: String
    /// The apiserver URLs, in the order the agent reported them.
    public var serverAddresses: [String]
    public var caCertPEM: String
    /// The cluster's service-account bearer token.
    public var serviceAccountToken: String
    public var clusterDomain: String
    public var updatedAt: Date

    public var description: String {
        "ClusterCredentials(\(clusterID), \(serverAddresses.joined(separator: ";")), ca: \(caCertPEM.utf8.count) bytes, token: redacted)"
    }
}

/// Response shapes of the cluster routes.
struct ClusterResponse: Encodable {
    let id: String
    let cluster_type: Int
    let tke_cluster_id: String
    let tke_cluster_region: String
    let creator_id: Int
    let created_at: String
    /// Only on the list and get routes (an addition to BCS): the last credential report, or null.
    let last_credentials_report_at: String??

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(id, forKey: .id)
        try c.encode(cluster_type, forKey: .cluster_type)
        try c.encode(tke_cluster_id, forKey: .tke_cluster_id)
        try c.encode(tke_cluster_region, forKey: .tke_cluster_region)
        try c.encode(creator_id, forKey: .creator_id)
        try c.encode(created_at, forKey: .created_at)
        if let last = last_credentials_report_at {
            if let last { try c.encode(last, forKey: .last_credentials_report_at) } else { try c.encodeNil(forKey: .last_credentials_report_at) }
        }
    }

    private enum Keys: String, CodingKey {
        case id, cluster_type, tke_cluster_id, tke_cluster_region, creator_id, created_at, last_credentials_report_at
    }

    init(_ cluster: ClusterRecord, lastReport: Date?? = .none) {
        id = cluster.id
        cluster_type = cluster.type.rawValue
        tke_cluster_id = cluster.tkeClusterID
        tke_cluster_region = cluster.tkeClusterRegion
        creator_id = cluster.creatorID
        created_at = BCSTime.format(cluster.createdAt)
        last_credentials_report_at = lastReport.map { $0.map(BCSTime.format) }
    }
}

struct RegisterTokenResponse: Encodable {
    let id: Int
    let cluster_id: String
    let token: String
    let created_at: String
}

struct CredentialsResponse: Encodable {
    let id: Int
    let cluster_id: String
    let server_addresses: String
    let ca_cert_data: String
    let user_token: String
    let cluster_domain: String
    let created_at: String
    let updated_at: String
}

struct CredentialsMapEntry: Encodable {
    let server_addresses: String
    let ca_cert_data: String
    let user_token: String
    let cluster_domain: String
}
