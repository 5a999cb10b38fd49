import Metrics
import Prometheus
import Synchronization

/// The process-wide Prometheus registry behind swift-metrics, rendered by `/metrics`.
public enum MetricsBootstrap {
    /// Every metric made through swift-metrics in this process lands here once `bootstrap()` ran.
    public static let registry = PrometheusCollectorRegistry()
    private static let done = Mutex(false)

    /// Points swift-metrics at `registry`; safe to call many times (tests and the binary both call it).
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        if first {
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            Gauge(label: "bcs_build_info", dimensions: [("version", BCSVersion.current)]).record(1)
        }
        return registry
    }

    /// The Prometheus text exposition of every registered metric.
    public static func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
