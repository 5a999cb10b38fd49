import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import BCSCore

/// A service that fails a set number of times, recording when each attempt started.
final class FlakyService: Sendable {
    let failures: Int
    let attempts = Mutex<[ContinuousClock.Instant]>([])

    init(failures: Int) { self.failures = failures }

    struct Boom: Error {}

    func make() -> any Service {
        ClosureService { [self] in
            let count = attempts.withLock { $0.append(.now); return $0.count }
            if count <= failures { throw Boom() }
            try? await gracefulShutdown()
        }
    }
}

struct ClosureService: Service {
    let body: @Sendable () async throws -> Void
    init(_ body: @escaping @Sendable () async throws -> Void) { self.body = body }
    func run() async throws { try await body() }
}

@Suite("Supervisor")
struct SupervisorTests {
    @Test func backoffGrowsAndIsCapped() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), multiplier: 2, jitter: 0)
        #expect(backoff.delay(attempt: 1, random: 0.5) == .milliseconds(100))
        #expect(backoff.delay(attempt: 2, random: 0.5) == .milliseconds(200))
        #expect(backoff.delay(attempt: 4, random: 0.5) == .milliseconds(800))
        #expect(backoff.delay(attempt: 5, random: 0.5) == .seconds(1))
        #expect(backoff.delay(attempt: 500, random: 0.5) == .seconds(1))
    }

    @Test func jitterStaysWithinItsFraction() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), multiplier: 2, jitter: 0.25)
        #expect(backoff.delay(attempt: 1, random: 0) == .seconds(1))
        #expect(backoff.delay(attempt: 1, random: 1) == .milliseconds(750))
        for _ in 0..<100 {
            let d = backoff.delay(attempt: 3)
            #expect(d >= .milliseconds(3000) && d <= .seconds(4))
        }
    }

    @Test func failingServiceIsRestartedWithGrowingBackoffAndCounted() async throws {
        MetricsBootstrap.bootstrap()
        let name = "flaky-\(UInt32.random(in: 0...UInt32.max))"
        let flaky = FlakyService(failures: 3)
        let policy = RestartPolicy(backoff: Backoff(initial: .milliseconds(50), maximum: .seconds(1), multiplier: 2, jitter: 0), maxRestarts: 10)
        let service = RestartingService(name: name, policy: policy, logger: Logger(label: "test")) { flaky.make() }
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                while flaky.attempts.withLock({ $0.count }) < 4 { try await Task.sleep(for: .milliseconds(10)) }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let times = flaky.attempts.withLock { $0 }
        #expect(times.count == 4)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps[0] >= .milliseconds(50) && gaps[1] >= .milliseconds(100) && gaps[2] >= .milliseconds(200), "gaps \(gaps)")
        let metrics = String(decoding: MetricsBootstrap.render(), as: UTF8.self)
        #expect(metrics.contains("bcs_service_restarts_total{service=\"\(name)\"} 3"), "\(metrics)")
    }

    @Test func exhaustedBudgetFailsTheSupervisor() async throws {
        let flaky = FlakyService(failures: 100)
        let policy = RestartPolicy(backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(5), jitter: 0), maxRestarts: 3, window: .seconds(60))
        let service = RestartingService(name: "doomed", policy: policy, logger: Logger(label: "test")) { flaky.make() }
        let error = await #expect(throws: RestartBudgetExhausted.self) { try await service.run() }
        #expect(error?.restarts == 3)
        #expect(flaky.attempts.withLock { $0.count } == 4, "the first run plus three restarts")
    }

    @Test func shutdownDuringBackoffEndsPromptly() async throws {
        let flaky = FlakyService(failures: 100)
        let policy = RestartPolicy(backoff: Backoff(initial: .seconds(60), maximum: .seconds(60), jitter: 0))
        let service = RestartingService(name: "slow-backoff", policy: policy, logger: Logger(label: "test")) { flaky.make() }
        let clock = ContinuousClock()
        let start = clock.now
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                while flaky.attempts.withLock({ $0.count }) < 1 { try await Task.sleep(for: .milliseconds(10)) }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(clock.now - start < .seconds(5))
    }

    @Test func emptyRoleSupervisorWaitsForShutdown() async throws {
        let supervisor = RoleSupervisor(role: "gateway", services: [], logger: Logger(label: "test"))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { try await supervisor.run(); return true }
                group.addTask { try await Task.sleep(for: .milliseconds(200)); return false }
                let first = try await group.next()
                #expect(first == false, "the supervisor keeps running until shutdown")
                trigger.triggerGracefulShutdown()
                let second = try await group.next()
                #expect(second == true)
            }
        }
    }
}
