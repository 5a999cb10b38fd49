import AsyncHTTPClient
import Crypto
import Foundation
import Metrics
import NIOSSL
import Synchronization

/// This gateway's links to its peer replicas: their shared secret and the clients that reach them.
///
/// One client pool per peer, never per cluster: with TLS between replicas the pool's HTTP/2
/// connection carries every forwarded request to that peer as streams of one connection; over plain
/// HTTP it keeps a bounded set of HTTP/1.1 keep-alive connections. Each forwarded request carries the
/// shared secret in `BCS-Peer-Secret`; a replica answers a request bearing a wrong secret with 403
/// and never forwards a request that came from a peer again (no loops).
final class PeerLinks: Sendable {
    static let secretHeader = "bcs-peer-secret"
    static let fromHeader = "bcs-peer-from"

    let secretDigest: [UInt8]
    let secret: String
    let tls: TLSConfiguration
    private let pools = Mutex<[String: UpstreamClientPool.Shared]>([:])
    private let forwarded = Counter(label: "bcs_gateway_peer_forwarded_total")
    private let received = Counter(label: "bcs_gateway_peer_received_total")
    private let forwardedCount = Atomic<Int>(0)
    private let receivedCount = Atomic<Int>(0)

    /// Requests this replica sent to peers, and received from them, since it started.
    var forwardedTotal: Int { forwardedCount.load(ordering: .relaxed) }
    var receivedTotal: Int { receivedCount.load(ordering: .relaxed) }

    func noteForwarded() {
        forwarded.increment()
        forwardedCount.add(1, ordering: .relaxed)
    }

    func noteReceived() {
        received.increment()
        receivedCount.add(1, ordering: .relaxed)
    }

    private let sslContext: NIOSSLContext?

    init(secret: String, tls: TLSConfiguration = .makeClientConfiguration()) throws {
        self.secret = secret
        self.secretDigest = Array(SHA256.hash(data: Data(secret.utf8)))
        self.tls = tls
        self.sslContext = try NIOSSLContext(configuration: tls)
    }

    /// The TLS context for an upgrade connection to `peerURL`: nil for `http://` peers.
    func upgradeTLS(for peerURL: String) throws -> NIOSSLContext? {
        peerURL.lowercased().hasPrefix("https://") ? sslContext : nil
    }

    /// Whether `presented` is the peers' secret (compared as digests, in constant time).
    func verify(_ presented: String) -> Bool {
        let digest = Array(SHA256.hash(data: Data(presented.utf8)))
        return zip(digest, secretDigest).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Room on a client to `peerURL`, held until the lease ends.
    func lease(for peerURL: String) throws -> UpstreamLease {
        let pool = pools.withLock { pools in
            if let pool = pools[peerURL] { return pool }
            let pool = UpstreamClientPool.Shared(tls: tls)
            pools[peerURL] = pool
            return pool
        }
        return try pool.lease()
    }

    func shutdown() async {
        let all = pools.withLock { pools in
            defer { pools = [:] }
            return Array(pools.values)
        }
        for pool in all { await pool.shutdown() }
    }
}
