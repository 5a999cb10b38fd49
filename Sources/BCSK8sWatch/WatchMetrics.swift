import Metrics

/// The watcher's Prometheus metrics (`/metrics` on `--listen-addr`).
///
/// Depth, seen/shipped/retried/dropped counts and the lag from an event's `lastTimestamp` to the
/// write storage acknowledged: the figures an operator needs to tell a slow storage from a
/// lossy pipeline. Drops are counted here and logged; nothing is dropped silently.
public struct WatchMetrics: Sendable {
    public let eventsSeen = Counter(label: "bcs_k8s_watch_events_seen_total")
    public let eventsShipped = Counter(label: "bcs_k8s_watch_events_shipped_total")
    public let eventsRetried = Counter(label: "bcs_k8s_watch_events_retried_total")
    public let eventsDropped = Counter(label: "bcs_k8s_watch_events_dropped_total")
    public let eventQueueDepth = Gauge(label: "bcs_k8s_watch_queue_depth", dimensions: [("queue", "events")])
    public let resourceQueueDepth = Gauge(label: "bcs_k8s_watch_queue_depth", dimensions: [("queue", "resources")])
    public let resourcesShipped = Counter(label: "bcs_k8s_watch_resources_shipped_total")
    public let resourcesRetried = Counter(label: "bcs_k8s_watch_resources_retried_total")
    public let resourcesDropped = Counter(label: "bcs_k8s_watch_resources_dropped_total")
    public let heartbeatsSkipped = Counter(label: "bcs_k8s_watch_node_heartbeats_skipped_total")
    public let reconcileRepairs = Counter(label: "bcs_k8s_watch_reconcile_repairs_total")
    /// Seconds from an event's `lastTimestamp` to storage acknowledging its write (a duration
    /// histogram: 5 ms … 10 s buckets, plus `_sum` and `_count`).
    public let eventLag = Timer(label: "bcs_k8s_watch_event_lag_seconds")

    public init() {}

    public func relisted(_ kind: String) -> Counter { Counter(label: "bcs_k8s_watch_relists_total", dimensions: [("resource", kind)]) }
    public func watchRestarted(_ kind: String) -> Counter { Counter(label: "bcs_k8s_watch_watch_restarts_total", dimensions: [("resource", kind)]) }
}
