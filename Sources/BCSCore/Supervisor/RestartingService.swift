import Logging
import Metrics
import ServiceLifecycle

/// How a `RestartingService` restarts its child.
public struct RestartPolicy: Sendable {
    public var backoff: Backoff
    /// More than this many restarts within `window` gives up and fails the supervisor.
    public var maxRestarts: Int
    public var window: Duration
    /// A run that lasted at least this long counts as healthy: the backoff starts over.
    public var resetAfter: Duration

    public init(backoff: Backoff = Backoff(), maxRestarts: Int = 10, window: Duration = .seconds(300), resetAfter: Duration = .seconds(60)) {
        self.backoff = backoff
        self.maxRestarts = maxRestarts
        self.window = window
        self.resetAfter = resetAfter
    }

    public static let `default` = RestartPolicy()
}

/// Raised when a service failed more often than its restart budget allows.
public struct RestartBudgetExhausted: Error, CustomStringConvertible {
    public let service: String
    public let restarts: Int
    public let window: Duration
    public let lastError: String

    public var description: String {
        "service \(service) failed \(restarts) times within \(Int(window.seconds)) s; giving up (last error: \(lastError))"
    }
}

/// Runs a background service and restarts it when it fails, with backoff and a restart budget.
///
/// ServiceGroup never restarts a child (swift-service-lifecycle issue #208), so one crashed loop —
/// a retention job, a health probe — would take the whole process down. This wrapper keeps it
/// running: each restart is logged and counted in `bcs_service_restarts_total{service=…}`. If the
/// budget is exhausted the error propagates to the supervisor, on the principle that a service
/// failing continuously is better surfaced (and restarted by Kubernetes) than hidden.
///
/// The wrapped service is started afresh from `makeService` on each attempt. A graceful shutdown
/// during the backoff sleep ends the wrapper at once.
public struct RestartingService: Service, CustomStringConvertible {
    public let name: String
    public let policy: RestartPolicy
    private let makeService: @Sendable () -> any Service
    private let logger: Logger
    private let restarts: Counter

    public init(name: String, policy: RestartPolicy = .default, logger: Logger, makeService: @escaping @Sendable () -> any Service) {
        self.name = name
        self.policy = policy
        self.makeService = makeService
        self.logger = logger
        self.restarts = Counter(label: "bcs_service_restarts_total", dimensions: [("service", name)])
    }

    public var description: String { "RestartingService(\(name))" }

    public func run() async throws {
        let clock = ContinuousClock()
        var attempt = 0
        var recent: [ContinuousClock.Instant] = []
        while true {
            let started = clock.now
            var failure: String
            do {
                try await makeService().run()
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                failure = "exited before shutdown"
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                failure = "\(error)"
            }
            let now = clock.now
            if now - started >= policy.resetAfter { attempt = 0 }
            attempt += 1
            recent = recent.filter { now - $0 < policy.window } + [now]
            if recent.count > policy.maxRestarts {
                logger.critical("service keeps failing; restart budget exhausted", metadata: [
                    "service": "\(name)", "error": "\(failure)", "restarts": "\(recent.count - 1)",
                ])
                throw RestartBudgetExhausted(service: name, restarts: recent.count - 1, window: policy.window, lastError: failure)
            }
            let delay = policy.backoff.delay(attempt: attempt)
            restarts.increment()
            logger.error("service failed; restarting after backoff", metadata: [
                "service": "\(name)", "error": "\(failure)", "attempt": "\(attempt)", "backoff_ms": "\(Int(delay.seconds * 1000))",
            ])
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            } catch {
                return
            }
        }
    }
}
