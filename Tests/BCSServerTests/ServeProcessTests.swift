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

/// Serialized: readiness and restart timings are easier to reason about one server at a time.
@Suite("bcs serve, in process", .serialized)
struct ServeProcessTests {
    @Test func healthReadinessAndMetrics() async throws {
        let serve = try await RunningServe.start()
        #expect(try await serve.get("/healthz") == (200, "ok\n"))
        try await eventually { try await serve.get("/readyz").status == 200 }
        #expect(try await serve.get("/readyz").body == "ok\n")
        let metrics = try await serve.get("/metrics")
        #expect(metrics.status == 200)
        // The gauge is process-wide and other tests run servers whose MongoDB is down: check presence only;
        // readiness above is the state of this server.
        #expect(metrics.body.contains("bcs_mongodb_up "))
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
        // Lower bounds only: under load a sleep can last longer than asked, never shorter.
        let times = attempts.times
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps[0] >= .milliseconds(50) && gaps[1] >= .milliseconds(100) && gaps[2] >= .milliseconds(200), "backoff grows: \(gaps)")
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
        // With the gateway role in the process its public storage path needs a BCS token (StorageAccessGuard).
        #expect(try await all.get("/bcsapi/v4/storage/probe?clusterId=a").status == 401)
        _ = await all.stop()

        let noGateway = try await RunningServe.start(flags: ["roles": "usermanager,storage"]) { $0.extraRoutes = routes }
        #expect(try await noGateway.get("/bcsapi/v4/storage/probe?clusterId=a") == (200, "storage clusterId=a"))
        _ = await noGateway.stop()

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
