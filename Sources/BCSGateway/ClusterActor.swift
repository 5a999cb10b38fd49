import AsyncHTTPClient
import BCSUserManager
import Foundation
import NIOCore
import NIOSSL

/// One registered cluster: its latest reported credentials and the HTTP client that reaches its apiserver.
///
/// The client trusts exactly the CA the agent reported and is rebuilt when that CA changes; the
/// previous one is shut down once requests in flight on it have been handed their responses.
actor ClusterActor {
    let clusterID: String
    private(set) var credentials: ClusterCredentials
    private var client: HTTPClient?
    private var clientCA: String?

    init(credentials: ClusterCredentials) {
        self.clusterID = credentials.clusterID
        self.credentials = credentials
    }

    func update(_ credentials: ClusterCredentials) {
        self.credentials = credentials
    }

    /// What a proxied request needs: where to send it, the token to send, and a client trusting the cluster's CA.
    func upstream() throws -> (addresses: [String], token: String, client: HTTPClient) {
        if client == nil || clientCA != credentials.caCertPEM {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(credentials.caCertPEM.utf8)))
            } catch {
                throw KubeStatus.badGateway("cluster \(clusterID): the reported CA certificate cannot be used: \(error)")
            }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow, decompression: .disabled)
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
            configuration.timeout = .init(connect: .seconds(10), read: nil)
            let old = client
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clientCA = credentials.caCertPEM
            if let old { Task { try? await old.shutdown() } }
        }
        return (credentials.serverAddresses, credentials.serviceAccountToken, client!)
    }

    func shutdown() async {
        try? await client?.shutdown()
        client = nil
    }
}

/// Every registered cluster's actor, fed by the user-manager's credential changes.
actor ClusterRegistry {
    private var actors: [String: ClusterActor] = [:]

    func apply(_ change: CredentialChange) async {
        switch change {
        case .updated(let credentials):
            if let actor = actors[credentials.clusterID] {
                await actor.update(credentials)
            } else {
                actors[credentials.clusterID] = ClusterActor(credentials: credentials)
            }
        case .removed(let id):
            await actors.removeValue(forKey: id)?.shutdown()
        }
    }

    func actor(for clusterID: String) -> ClusterActor? { actors[clusterID] }

    var count: Int { actors.count }

    func shutdown() async {
        for actor in actors.values { await actor.shutdown() }
        actors = [:]
    }
}
