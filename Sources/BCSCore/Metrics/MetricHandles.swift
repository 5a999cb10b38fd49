import Synchronization

/// Metric handles made once per key and kept, for metrics recorded on a hot path.
///
/// Asking the metrics factory for a counter by label and dimensions costs a lookup under its lock
/// and a few allocations; on the gateway's fast path, once per request, that was measurable. The
/// set of keys (a route and status, a cluster and code) is small and bounded by what exists.
public final class MetricHandles<Key: Hashable & Sendable, Handles: Sendable>: Sendable {
    private let table = Mutex<[Key: Handles]>([:])
    private let make: @Sendable (Key) -> Handles

    public init(make: @escaping @Sendable (Key) -> Handles) {
        self.make = make
    }

    /// The handles for `key`, made on first use.
    public func callAsFunction(_ key: Key) -> Handles {
        table.withLock { table in
            if let known = table[key] { return known }
            let made = make(key)
            table[key] = made
            return made
        }
    }
}
