import Foundation
import Synchronization

/// A change to a cluster's credentials, as the gateway's cluster actors consume it.
public enum CredentialChange: Sendable, Equatable {
    /// The cluster's current credentials (after a report, here or in another process).
    case updated(ClusterCredentials)
    /// The cluster was deleted: forget its credentials.
    case removed(clusterID: String)

    public var clusterID: String {
        switch self {
        case .updated(let credentials): return credentials.clusterID
        case .removed(let id): return id
        }
    }
}

/// Fans credential changes out to in-process subscribers (the co-hosted gateway's cluster registry).
///
/// Changes arrive from two places: this process's own credential reports, published at once, and
/// `CredentialWatcher`, which reads changes other processes wrote to MongoDB. Each change carries the
/// record's `updatedAt` version; a change whose version equals the last one delivered for that
/// cluster is dropped, so a report is delivered once even though the watcher reads it back. Events
/// describe the cluster's whole current state, so a subscriber that applies them in order converges
/// even if it misses one. A subscriber that falls more than `bufferLimit` changes behind loses the
/// oldest (`bufferingNewest`), never blocking the report path.
public final class CredentialFeed: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<CredentialChange>.Continuation] = [:]
        var nextID: UInt64 = 0
        var lastVersion: [String: Int64] = [:]
    }

    private let state = Mutex(State())
    public let bufferLimit: Int

    public init(bufferLimit: Int = 16_384) {
        self.bufferLimit = bufferLimit
    }

    /// A stream of every change from now on; ends when the subscriber stops iterating.
    public func subscribe() -> AsyncStream<CredentialChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: CredentialChange.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = state.withLock { state in
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Delivers `change` unless the same version of the same cluster was delivered last.
    /// Returns whether it was delivered.
    @discardableResult
    public func publish(_ change: CredentialChange, version: Int64) -> Bool {
        let targets: [AsyncStream<CredentialChange>.Continuation]? = state.withLock { state in
            if state.lastVersion[change.clusterID] == version { return nil }
            state.lastVersion[change.clusterID] = version
            return Array(state.subscribers.values)
        }
        guard let targets else { return false }
        for continuation in targets { continuation.yield(change) }
        return true
    }

    /// Ends every subscription (process shutdown).
    public func finish() {
        let all = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for continuation in all { continuation.finish() }
    }
}
