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
    /// Direct-mode requests (watches included) in flight to the apiserver, and the HTTP clients carrying them.
    var upstream_in_flight: Int = 0
    var upstream_clients: Int = 0
    /// Requests carried by the gateway's event-loop fast path (plain GETs with a cached access decision).
    var fast_path_requests: Int = 0
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
    private var pool: UpstreamClientPool?
    private var poolCA: String?
    private var upgradeTLS: (ca: String, context: NIOSSLContext)?
    private var preferred = 0
    private(set) var health: ClusterHealth = .unknown
    private(set) var healthReason = "not probed yet"
    private var lastProbe: Date?
    private let up: Gauge
    /// Where this actor publishes its route for the event-loop fast path (nil: no fast path).
    private let routes: DirectRoutes?
    private var publishedRoute: PublishedRoute?
    /// Requests the event-loop fast path carried to this cluster.
    private let fastPathServed = RequestCounter()

    /// What the published route was made from, to publish again only on a change.
    private struct PublishedRoute: Equatable {
        let address: String?
        let token: String
        let ca: String
    }

    /// A report older than this (three of the agent's default 60 s periods) degrades the cluster.
    static let staleReport: TimeInterval = 180

    init(credentials: ClusterCredentials, routes: DirectRoutes? = nil) {
        self.clusterID = credentials.clusterID
        self.credentials = credentials
        self.routes = routes
        self.up = Gauge(label: "bcs_gateway_cluster_up", dimensions: [("cluster", credentials.clusterID)])
    }

    func update(_ credentials: ClusterCredentials) {
        if credentials.serverAddresses != self.credentials.serverAddresses { preferred = 0 }
        self.credentials = credentials
        publishRoute()
    }

    /// Publishes where the fast path sends this cluster's requests (the preferred address), or
    /// withdraws it when nothing usable is known; the slow path then answers with the reason.
    func publishRoute() {
        guard let routes else { return }
        let now = PublishedRoute(address: addressOrder.first, token: credentials.serviceAccountToken, ca: credentials.caCertPEM)
        guard now != publishedRoute else { return }
        publishedRoute = now
        let secure = now.address?.lowercased().hasPrefix("https://") ?? false
        var tls: NIOSSLContext?
        if secure {
            tls = try? tlsContext()
            if tls == nil {
                routes.withdraw(clusterID)
                return
            }
        }
        routes.publish(clusterID: clusterID, address: now.address, token: now.token, tls: tls, served: fastPathServed)
    }

    /// The addresses in the order to try them: the last good one first.
    var addressOrder: [String] {
        let all = credentials.serverAddresses
        guard preferred < all.count else { return all }
        return [all[preferred]] + all.enumerated().filter { $0.offset != preferred }.map(\.element)
    }

    func markGood(_ address: String) {
        if let index = credentials.serverAddresses.firstIndex(of: address), index != preferred {
            preferred = index
            publishRoute()
        }
    }

    /// What a proxied request needs: where to send it, the token to send, and room on a client trusting the cluster's CA.
    ///
    /// The lease holds that room until it is released or dropped: a watch keeps it for as long as it runs.
    func upstream() throws -> (addresses: [String], token: String, lease: UpstreamLease) {
        if pool == nil || poolCA != credentials.caCertPEM {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(credentials.caCertPEM.utf8)))
            } catch {
                throw KubeStatus.badGateway("cluster \(clusterID): the reported CA certificate cannot be used: \(error)")
            }
            let retired = pool?.detachClients() ?? []
            pool = UpstreamClientPool(tls: tls)
            poolCA = credentials.caCertPEM
            if !retired.isEmpty { Task { for client in retired { try? await client.shutdown() } } }
        }
        return (addressOrder, credentials.serviceAccountToken, try pool!.lease())
    }

    /// What an upgrade request needs: addresses, token, and a TLS context trusting the cluster's CA.
    func upgradeUpstream() throws -> (addresses: [String], token: String, tls: NIOSSLContext) {
        (addressOrder, credentials.serviceAccountToken, try tlsContext())
    }

    /// A TLS context trusting exactly the reported CA, made again only when the CA changes.
    private func tlsContext() throws -> NIOSSLContext {
        if let upgradeTLS, upgradeTLS.ca == credentials.caCertPEM { return upgradeTLS.context }
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(credentials.caCertPEM.utf8)))
            let context = try NIOSSLContext(configuration: tls)
            upgradeTLS = (credentials.caCertPEM, context)
            return context
        } catch {
            throw KubeStatus.badGateway("cluster \(clusterID): the reported CA certificate cannot be used: \(error)")
        }
    }

    /// Probes `/readyz` on every reported address and records the cluster's health: Healthy when
    /// all answer, Degraded when some do (requests go to the first of them), Unreachable when none.
    func probe(now: Date = Date()) async {
        lastProbe = now
        let reportAge = now.timeIntervalSince(credentials.updatedAt)
        pool?.trim()
        let target: (addresses: [String], token: String, lease: UpstreamLease)
        do {
            target = try upstream()
        } catch {
            record(.unreachable, "\(error)")
            return
        }
        defer { target.lease.release() }
        // Every address is probed each round, so one that stopped answering keeps the cluster
        // Degraded (and named in the reason) for as long as it is down, even after failover.
        var failures: [String] = []
        var answering: String?
        for address in target.addresses {
            var request = HTTPClientRequest(url: address.trimmingSlash + "/readyz")
            request.headers.add(name: "Authorization", value: "Bearer \(target.token)")
            do {
                let response = try await target.lease.client.execute(request, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 64 << 10)
                guard response.status == .ok else {
                    failures.append("\(address) answered /readyz with \(response.status.code)")
                    continue
                }
                if answering == nil { answering = address }
            } catch {
                failures.append("\(address) unreachable: \(error)")
            }
        }
        guard let answering else {
            record(.unreachable, failures.isEmpty ? "no apiserver address reported" : failures.joined(separator: "; "))
            return
        }
        markGood(answering)
        if !failures.isEmpty {
            record(.degraded, failures.joined(separator: "; ") + "; using \(answering)")
        } else if reportAge > Self.staleReport {
            record(.degraded, "last credential report \(Int(reportAge)) s ago")
        } else {
            record(.healthy, "")
        }
    }

    /// Takes another replica's probe result as this gateway's view (replicas share one prober).
    func adopt(state: ClusterHealth, reason: String, probedAt: Date, preferredAddress: String) {
        guard lastProbe.map({ probedAt > $0 }) ?? true else { return }
        lastProbe = probedAt
        if !preferredAddress.isEmpty { markGood(preferredAddress) }
        record(state, reason)
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
            last_probe_at: lastProbe?.formatted(.iso8601),
            upstream_in_flight: pool?.inFlight ?? 0, upstream_clients: pool?.clientCount ?? 0, fast_path_requests: fastPathServed.value
        )
    }

    func shutdown() async {
        routes?.withdraw(clusterID)
        for client in pool?.detachClients() ?? [] { try? await client.shutdown() }
        pool = nil
    }
}

extension String {
    var trimmingSlash: String { hasSuffix("/") ? String(dropLast()) : self }
}
