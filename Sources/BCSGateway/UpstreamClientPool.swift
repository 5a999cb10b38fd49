import AsyncHTTPClient
import NIOCore
import NIOSSL
import Synchronization

/// The HTTP clients that reach one cluster's apiserver: as many as its concurrent requests need.
///
/// AsyncHTTPClient keeps one HTTP/2 connection per host and queues a request that finds all of that
/// connection's streams busy until its connect timeout. An apiserver allows 100 concurrent streams
/// per connection by default (Go's HTTP/2 server), so the 101st concurrent watch through a single
/// client failed with `getConnectionFromPoolTimeout`. Each client here carries at most
/// `requestsPerClient` requests at once (one HTTP/2 connection, or that many HTTP/1.1 connections
/// to an apiserver without HTTP/2); when all are that busy another client is added, up to
/// `maximumClients`, beyond which the request is refused at once rather than queued. Clients left
/// idle beyond the first are shut down by `trim`.
///
/// Owned by a `ClusterActor`: `lease` and `trim` run on it; a lease ends from any thread.
final class UpstreamClientPool {
    /// Concurrent requests one client carries: the HTTP/2 stream limit Go's server and SwiftNIO advertise by default.
    static let requestsPerClient = 100
    /// Clients per cluster: with `requestsPerClient`, the most watches and requests in flight to one cluster.
    static let maximumClients = 82

    private let tls: TLSConfiguration
    private var members: [PooledClient] = []
    /// When each member last took a lease, by position in `members`.
    private var lastUsed: [ContinuousClock.Instant] = []

    init(tls: TLSConfiguration) {
        self.tls = tls
    }

    /// A client with room for one more request, reserved until the returned lease ends.
    func lease(now: ContinuousClock.Instant = .now) throws -> UpstreamLease {
        let index: Int
        if let least = members.indices.min(by: { members[$0].active.load(ordering: .relaxed) < members[$1].active.load(ordering: .relaxed) }),
           members[least].active.load(ordering: .relaxed) < Self.requestsPerClient {
            index = least
        } else if members.count < Self.maximumClients {
            members.append(PooledClient(client: makeClient()))
            lastUsed.append(now)
            index = members.count - 1
        } else {
            throw KubeStatus.tooManyRequests(
                "\(Self.requestsPerClient * Self.maximumClients) requests to this cluster are already in flight through this gateway")
        }
        let chosen = members[index]
        chosen.active.add(1, ordering: .relaxed)
        lastUsed[index] = now
        return UpstreamLease(member: chosen)
    }

    /// Requests in flight across the pool's clients.
    var inFlight: Int { members.reduce(0) { $0 + $1.active.load(ordering: .relaxed) } }
    var clientCount: Int { members.count }

    /// Shuts down clients other than the first that have carried nothing for `idle`.
    func trim(idle: Duration = .seconds(60), now: ContinuousClock.Instant = .now) {
        guard members.count > 1 else { return }
        var kept = [0]
        for index in members.indices.dropFirst() {
            if members[index].active.load(ordering: .relaxed) == 0 && now - lastUsed[index] > idle {
                let client = members[index].client
                Task { try? await client.shutdown() }
            } else {
                kept.append(index)
            }
        }
        members = kept.map { members[$0] }
        lastUsed = kept.map { lastUsed[$0] }
    }

    /// Empties the pool and returns its clients for the caller to shut down (requests still running on them fail).
    func detachClients() -> [HTTPClient] {
        let all = members.map(\.client)
        members = []
        lastUsed = []
        return all
    }

    private func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow, decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.requestsPerClient)
        // A refused connection fails its requests at once (AsyncHTTPClient would otherwise retry it
        // until the connect deadline, so a stopped apiserver answered 502 only after 2 s per
        // address); `KubeProxy` fails over to the next address itself. The deadline bounds an
        // address that does not answer at all. No read timeout: watches are long and quiet.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(2), read: nil)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// One client of the pool and how many requests it carries now.
final class PooledClient: Sendable {
    let client: HTTPClient
    let active = Atomic<Int>(0)

    init(client: HTTPClient) {
        self.client = client
    }
}

/// A reservation of room on one upstream client; the room is given back when the lease is released
/// or, failing that, when the last reference to it goes away (a response body dropped mid-stream).
final class UpstreamLease: Sendable {
    private let member: PooledClient
    private let released = Atomic<Bool>(false)

    init(member: PooledClient) {
        self.member = member
    }

    var client: HTTPClient { member.client }

    func release() {
        if !released.exchange(true, ordering: .relaxed) {
            member.active.subtract(1, ordering: .relaxed)
        }
    }

    deinit { release() }
}

extension UpstreamClientPool {
    /// A pool used from any thread (the peer links), its state behind a lock.
    final class Shared: Sendable {
        private let pool: Mutex<UpstreamClientPool>

        init(tls: TLSConfiguration) {
            pool = Mutex(UpstreamClientPool(tls: tls))
        }

        func lease() throws -> UpstreamLease {
            try pool.withLock { pool in
                pool.trim()
                return try pool.lease()
            }
        }

        func shutdown() async {
            let clients = pool.withLock { $0.detachClients() }
            for client in clients { try? await client.shutdown() }
        }
    }
}
