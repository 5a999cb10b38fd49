import AsyncHTTPClient
import BCSCore
import BCSTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

@testable import BCSServer

/// A `bcs serve` process run in-process on port 0, with the root supervisor under the test's control.
struct RunningServe {
    let group: ServiceGroup
    let port: Int
    let task: Task<Result<Void, any Error>, Never>

    var base: String { "http://127.0.0.1:\(port)" }

    static func start(
        mongoURI: String? = nil,
        flags: [String: String] = [:],
        handleSignals: Bool = false,
        customise: (inout ServeProcess) -> Void = { _ in }
    ) async throws -> RunningServe {
        MetricsBootstrap.bootstrap()
        var allFlags = ["listen": "127.0.0.1:0", "readiness-interval": "0.2", "mongodb-uri": try mongoURI ?? TestEnvironment.mongoURI(),
                        "secret-key": "test-secret-0123456789abcdef0123456789abcdef"]
        allFlags.merge(flags) { _, new in new }
        let configuration = try ServeConfiguration.resolve(LayeredSettings(flags: allFlags, environment: [:]))
        var process = ServeProcess(configuration: configuration, logger: Logger(label: "test.serve"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        process.onServerRunning = { continuation.yield($0) }
        customise(&process)
        let group = try process.makeServiceGroup(handleSignals: handleSignals)
        let task = Task { () -> Result<Void, any Error> in
            do { try await group.run(); return .success(()) } catch { return .failure(error) }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return RunningServe(group: group, port: port, task: task)
    }

    func get(_ path: String, timeout: Duration = .seconds(30)) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(Int64(timeout.seconds)))
        let body = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Triggers graceful shutdown and waits for the root group to finish.
    func stop() async -> Result<Void, any Error> {
        await group.triggerGracefulShutdown()
        return await task.value
    }
}

/// Serialized: the processes started here share one metrics registry (`bcs_mongodb_up` is process-wide),
/// so a test whose MongoDB is unreachable must not run while another expects the gauge at 1.
@Suite("bcs serve, in process", .serialized)
struct ServeProcessTests {
    @Test func healthReadinessAndMetrics() async throws {
        let serve = try await RunningServe.start()
        #expect(try await serve.get("/healthz") == (200, "ok\n"))
        try await eventually { try await serve.get("/readyz").status == 200 }
        #expect(try await serve.get("/readyz").body == "ok\n")
        let metrics = try await serve.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("bcs_mongodb_up 1"))
        #expect(metrics.body.contains("bcs_build_info{version=\"\(BCSVersion.current)\"} 1"))
        #expect(metrics.body.contains("bcs_service_restarts_total{service=\"mongodb-readiness\"}"))
        #expect(try await serve.get("/nope").status == 404)
        if case .failure(let error) = await serve.stop() { Issue.record("shutdown failed: \(error)") }
    }

    @Test func readyzIs503WithTheReasonWhileMongoIsUnreachable() async throws {
        let closedPort = try freePort()
        let serve = try await RunningServe.start(mongoURI: "mongodb://127.0.0.1:\(closedPort)/?serverSelectionTimeoutMS=300&connectTimeoutMS=200")
        #expect(try await serve.get("/healthz").status == 200, "alive even without a database")
        try await eventually { try await serve.get("/readyz").body.contains("127.0.0.1:\(closedPort)") }
        let ready = try await serve.get("/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.hasPrefix("not ready: mongodb mongodb://127.0.0.1:\(closedPort)"), "\(ready.body)")
        if case .failure(let error) = await serve.stop() { Issue.record("shutdown failed: \(error)") }
    }

    @Test func failingBackgroundServiceIsRestartedAndCountedInMetrics() async throws {
        let name = "test-flaky-\(UInt32.random(in: 0...UInt32.max))"
        let attempts = Attempts()
        let serve = try await RunningServe.start { process in
            process.backgroundServices = [
                BackgroundService(name: name, role: "storage", policy: RestartPolicy(backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1), jitter: 0))) {
                    FailingService(attempts: attempts)
                }
            ]
        }
        try await eventually { attempts.count >= 4 }
        let metrics = try await serve.get("/metrics").body
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("bcs_service_restarts_total{service=\"\(name)\"}") }
        let restarts = line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(restarts >= 3, "restarts counted in /metrics: \(String(describing: line))")
        let times = attempts.times
        // 50, 100, 200 ms: compare the first gap with the third, so scheduling noise at start-up
        // (other roles' start-up work runs at the same time) cannot flip the comparison.
        #expect(times[3] - times[2] > times[1] - times[0], "backoff grows between restarts: \(times)")
        #expect(try await serve.get("/healthz").status == 200, "the process stays up while one service flaps")
        if case .failure(let error) = await serve.stop() { Issue.record("shutdown failed: \(error)") }
    }

    @Test func gracefulShutdownFinishesInFlightRequests() async throws {
        let serve = try await RunningServe.start(flags: ["shutdown-timeout": "10"]) { process in
            process.extraRoutes = { router in
                router.get("/test/slow") { _, _ in
                    try await Task.sleep(for: .milliseconds(1500))
                    return "finished"
                }
            }
        }
        let clock = ContinuousClock()
        let inFlight = Task { try await serve.get("/test/slow") }
        try await Task.sleep(for: .milliseconds(300))
        let start = clock.now
        let result = await serve.stop()
        let elapsed = clock.now - start
        let response = try await inFlight.value
        #expect(response == (200, "finished"), "the in-flight request completed")
        if case .failure(let error) = result { Issue.record("shutdown failed: \(error)") }
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "waited for the request, within the bound: \(elapsed)")
        await #expect(throws: (any Error).self, "the listener is closed after shutdown") { _ = try await serve.get("/healthz", timeout: .seconds(2)) }
    }

    /// The same drain, started by a real SIGTERM delivered to this (test) process: the root group is
    /// the only one here that handles signals, exactly as in `bcs serve`.
    @Test func sigtermDrainsInFlightRequestsBeforeStopping() async throws {
        let serve = try await RunningServe.start(flags: ["shutdown-timeout": "10"], handleSignals: true) { process in
            process.extraRoutes = { router in
                router.get("/test/slow-signal") { _, _ in
                    try await Task.sleep(for: .milliseconds(1200))
                    return "drained"
                }
            }
        }
        let inFlight = Task { try await serve.get("/test/slow-signal") }
        try await Task.sleep(for: .milliseconds(300))
        kill(getpid(), SIGTERM)
        let result = await serve.task.value
        #expect(try await inFlight.value == (200, "drained"))
        if case .failure(let error) = result { Issue.record("shutdown after SIGTERM failed: \(error)") }
    }

    @Test func gatewayPathsOfCoHostedRolesAreServedInPlace() async throws {
        let routes: @Sendable (Router<BCSRequestContext>) -> Void = { router in
            router.get("/usermanager/v1/probe/{name}") { _, context in "usermanager \(context.parameters.get("name") ?? "")" }
            router.get("/bcsstorage/v1/probe") { request, _ in "storage \(request.uri.query ?? "")" }
        }
        let all = try await RunningServe.start { $0.extraRoutes = routes }
        #expect(try await all.get("/bcsapi/v4/usermanager/v1/probe/x") == (200, "usermanager x"))
        #expect(try await all.get("/bcsapi/v4/storage/probe?clusterId=a") == (200, "storage clusterId=a"))
        _ = await all.stop()

        let storageOnly = try await RunningServe.start(flags: ["roles": "storage"]) { $0.extraRoutes = routes }
        #expect(try await storageOnly.get("/bcsapi/v4/storage/probe") == (200, "storage "))
        #expect(try await storageOnly.get("/bcsapi/v4/usermanager/v1/probe/x").status == 404, "a role not hosted here is not served")
        _ = await storageOnly.stop()
    }

    @Test func shutdownIsBoundedWhenARequestNeverFinishes() async throws {
        let serve = try await RunningServe.start(flags: ["shutdown-timeout": "1"]) { process in
            process.extraRoutes = { router in
                router.get("/test/stuck") { _, _ in
                    try await Task.sleep(for: .seconds(600))
                    return "never"
                }
            }
        }
        let stuck = Task { try? await serve.get("/test/stuck") }
        try await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        _ = await serve.stop()
        #expect(clock.now - start < .seconds(4), "shutdown took \(clock.now - start) with a 1 s bound")
        stuck.cancel()
    }
}

final class Attempts: Sendable {
    private let state = Mutex<[ContinuousClock.Instant]>([])
    func record() { state.withLock { $0.append(.now) } }
    var count: Int { state.withLock { $0.count } }
    var times: [ContinuousClock.Instant] { state.withLock { $0 } }
}

struct FailingService: Service {
    let attempts: Attempts
    struct Failure: Error {}
    func run() async throws {
        attempts.record()
        throw Failure()
    }
}

func eventually(within limit: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(limit)")
}
