import Foundation
import Logging
import ServiceLifecycle

/// Brings credential changes written by other processes into a `CredentialFeed`, by polling MongoDB.
///
/// Every `interval` it reads the records whose `updatedAt` is at or after its watermark minus
/// `clockSkew` (writers' clocks may differ a little; re-reading a window is cheap because the feed
/// drops versions it delivered already) and publishes them. It only polls while the feed has
/// subscribers, so a process with no cluster actors costs MongoDB nothing. A failed poll is logged
/// and retried at the next tick; the watermark only moves forward over records actually read.
///
/// Secrets are opened here, so the actors receive plain credentials; a record that cannot be
/// opened (a different server secret) is logged by cluster ID and skipped.
public struct CredentialWatcher: Service {
    let store: any CredentialStore
    let box: SecretBox
    let feed: CredentialFeed
    let interval: Duration
    let clockSkew: Duration
    let logger: Logger
    /// Records read per poll at most; a larger backlog is read over the next polls.
    let batch = 5_000

    public init(store: any CredentialStore, box: SecretBox, feed: CredentialFeed, interval: Duration = .seconds(2),
                clockSkew: Duration = .seconds(5), logger: Logger) {
        self.store = store
        self.box = box
        self.feed = feed
        self.interval = interval
        self.clockSkew = clockSkew
        self.logger = logger
    }

    public func run() async throws {
        // Sleeping between polls must not hold up a graceful shutdown.
        try? await cancelWhenGracefulShutdown { try await pollLoop() }
    }

    private func pollLoop() async throws {
        var start = BCSTime.millis(Date()) - Int64(clockSkew.seconds * 1000)
        while !Task.isCancelled {
            if feed.subscriberCount > 0 {
                do {
                    start = try await poll(from: start)
                } catch {
                    logger.warning("credential watcher: poll failed, retrying", metadata: ["error": "\(error)"])
                }
            }
            try await Task.sleep(for: interval)
        }
    }

    /// One poll: publishes the records changed at or after `start`; returns where the next poll starts.
    ///
    /// The start never moves backwards. Normally it trails the newest record read by `clockSkew`; after
    /// a full batch it jumps to the newest record, so a backlog larger than a batch is still worked through.
    func poll(from start: Int64) async throws -> Int64 {
        let records = try await store.changes(sinceMillis: start, limit: batch)
        var newest = start
        for record in records {
            newest = max(newest, record.updatedAtMillis)
            if let stored = record.credentials {
                do {
                    feed.publish(.updated(try CredentialCodec.open(stored, box: box)), version: record.updatedAtMillis)
                } catch {
                    logger.error("credential watcher: cannot open credentials", metadata: ["cluster": "\(record.clusterID)", "error": "\(error)"])
                }
            } else {
                feed.publish(.removed(clusterID: record.clusterID), version: record.updatedAtMillis)
            }
        }
        if records.count == batch { return max(start, newest == start ? newest + 1 : newest) }
        return max(start, newest - Int64(clockSkew.seconds * 1000))
    }
}

/// Seals and opens a cluster's credentials.
enum CredentialCodec {
    static func open(_ stored: StoredCredentials, box: SecretBox) throws -> ClusterCredentials {
        ClusterCredentials(
            clusterID: stored.clusterID,
            serverAddresses: stored.serverAddresses.split(separator: ";").map(String.init),
            caCertPEM: try box.open(stored.sealedCACert, context: StoredCredentials.caContext(clusterID: stored.clusterID)),
            serviceAccountToken: try box.open(stored.sealedUserToken, context: StoredCredentials.userTokenContext(clusterID: stored.clusterID)),
            clusterDomain: stored.clusterDomain,
            updatedAt: stored.updatedAt
        )
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
