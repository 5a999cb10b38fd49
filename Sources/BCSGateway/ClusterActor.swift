import AsyncHTTPClient
import BCSUserManager
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import NIOSSL

/// What the gateway knows of a cluster's reachability.
public enum ClusterHealth: String, Sendable, Codable {
    case healthy = "Healthy"
    case degraded = "Degraded"
    case unreachable = "Unreachable"
    case unknown = "Unknown"
}

/// One cluster's state as the status route reports it.
struct ClusterStatus: Sendable, Codable, Equatable {
    let cluster_id: String
    var state: ClusterHealth
    var reason: String
    var server_addresses: [String]
    var preferred_address: String
    var last_report_at: String?
    var last_probe_at: String?
    /// `tunnel` while an agent tunnel is live (requests use it), `direct` otherwise.
    var mode: String = "direct"
    var tunnel_sessions: Int = 0
    var tunnel_rtt_ms: Double?
    var tunnel_last_pong: String?
}

/// One registered cluster: its latest reported credentials, the HTTP client that reaches its
/// apiserver, and its health.
///
/// The client trusts exactly the CA the agent reported and is rebuilt when that CA changes. The
/// address that last answered is tried first; a request without a body fails over to the next
/// address when the preferred one cannot be connected to.
actor ClusterActor {
    let clusterID: String
    private(set) var credentials: ClusterCredentials
    private var clients: (plain: HTTPClient, streaming: HTTPClient)?
    private var clientCA: String?
    private var upgradeTLS: (ca: String, context: NIOSSLContext)?
    private var preferred = 0
    private(set) var health: ClusterHealth = .unknown
    private(set) var healthReason = "not probed yet"
    private var lastProbe: Date?
    private let up: Gauge

    /// A report older than this (three of the agent's default 60 s periods) degrades the cluster.
    static let staleReport: TimeInterval = 180

    init(credentials: ClusterCredentials) {
        self.clusterID = credentials.clusterID
        self.credentials = credentials
        self.up = Gauge(label: "bcs_gateway_cluster_up", dimensions: [("cluster", credentials.clusterID)])
    }

    func update(_ credentials: ClusterCredentials) {
        if credentials.serverAddresses != self.credentials.serverAddresses { preferred = 0 }
        self.credentials = credentials
    }

    /// The addresses in the order to try them: the last good one first.
    var addressOrder: [String] {
        let all = credentials.serverAddresses
        guard preferred < all.count else { return all }
        return [all[preferred]] + all.enumerated().filter { $0.offset != preferred }.map(\.element)
    }

    func markGood(_ address: String) {
        if let index = credentials.serverAddresses.firstIndex(of: address) { preferred = index }
    }

    /// What a proxied request needs: where to send it, the token to send, and a client trusting the cluster's CA.
    ///
    /// `streaming` requests (watches, `logs -f`) get a client of their own with a large connection
    /// bound: each holds an HTTP/1.1 upstream connection for as long as it runs, and in the
    /// ordinary pool they would queue behind its 64-connection limit (an HTTP/2 apiserver
    /// multiplexes them instead).
    func upstream(streaming: Bool = false) throws -> (addresses: [String], token: String, client: HTTPClient) {
        if clients == nil || clientCA != credentials.caCertPEM {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(credentials.caCertPEM.utf8)))
            } catch {
                throw KubeStatus.badGateway("cluster \(clusterID): the reported CA certificate cannot be used: \(error)")
            }
            func make(connections: Int) -> HTTPClient {
                var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow, decompression: .disabled)
                configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
                // AsyncHTTPClient retries a refused connection until the connect deadline: keep it short so a
                // dead address fails over quickly. No read timeout: watches are long and quiet.
                configuration.timeout = .init(connect: .seconds(2), read: nil)
                return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            }
            let old = clients
            clients = (make(connections: 64), make(connections: Self.maximumStreams))
            clientCA = credentials.caCertPEM
            if let old { Task { try? await old.plain.shutdown(); try? await old.streaming.shutdown() } }
        }
        return (addressOrder, credentials.serviceAccountToken, streaming ? clients!.streaming : clients!.plain)
    }

    /// The most watches and log follows one cluster may hold open through this gateway.
    static let maximumStreams = 8192

    /// What an upgrade request needs: addresses, token, and a TLS context trusting the cluster's CA.
    func upgradeUpstream() throws -> (addresses: [String], token: String, tls: NIOSSLContext) {
        if upgradeTLS?.ca != credentials.caCertPEM {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(credentials.caCertPEM.utf8)))
                upgradeTLS = (credentials.caCertPEM, try NIOSSLContext(configuration: tls))
            } catch {
                throw KubeStatus.badGateway("cluster \(clusterID): the reported CA certificate cannot be used: \(error)")
            }
        }
        return (addressOrder, credentials.serviceAccountToken, upgradeTLS!.context)
    }

    /// Probes `/readyz` on each reported address and records the cluster's health.
    func probe(now: Date = Date()) async {
        lastProbe = now
        let reportAge = now.timeIntervalSince(credentials.updatedAt)
        let target: (addresses: [String], token: String, client: HTTPClient)
        do {
            target = try upstream()
        } catch {
            record(.unreachable, "\(error)")
            return
        }
        var failures: [String] = []
        for address in target.addresses {
            var request = HTTPClientRequest(url: address.trimmingSlash + "/readyz")
            request.headers.add(name: "Authorization", value: "Bearer \(target.token)")
            do {
                let response = try await target.client.execute(request, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 64 << 10)
                guard response.status == .ok else {
                    failures.append("\(address) answered /readyz with \(response.status.code)")
                    continue
                }
                markGood(address)
                if !failures.isEmpty {
                    record(.degraded, failures.joined(separator: "; ") + "; using \(address)")
                } else if reportAge > Self.staleReport {
                    record(.degraded, "last credential report \(Int(reportAge)) s ago")
                } else {
                    record(.healthy, "")
                }
                return
            } catch {
                failures.append("\(address) unreachable: \(error)")
            }
        }
        record(.unreachable, failures.isEmpty ? "no apiserver address reported" : failures.joined(separator: "; "))
    }

    private func record(_ state: ClusterHealth, _ reason: String) {
        health = state
        healthReason = reason
        up.record(state == .unreachable ? 0 : 1)
    }

    func status() -> ClusterStatus {
        ClusterStatus(
            cluster_id: clusterID, state: health, reason: healthReason, server_addresses: credentials.serverAddresses,
            preferred_address: addressOrder.first ?? "", last_report_at: credentials.updatedAt.formatted(.iso8601),
            last_probe_at: lastProbe?.formatted(.iso8601)
        )
    }

    func shutdown() async {
        try? await clients?.plain.shutdown()
        try? await clients?.streaming.shutdown()
        clients = nil
    }
}

extension String {
    var trimmingSlash: String { hasSuffix("/") ? String(dropLast()) : self }
}
