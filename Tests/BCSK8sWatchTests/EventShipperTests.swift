import AsyncHTTPClient
import BCSCore
import BCSKube
import BCSTestSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing
@testable import BCSK8sWatch

/// A storage stand-in: answers 503 to the first `failures` batches, 400 to batches holding the
/// uid "bad", and records the uids of every batch it accepted.
final class FakeStorage: Sendable {
    final class State: Sendable {
        let failuresLeft: Mutex<Int>
        let attempts = Mutex(0)
        let accepted = Mutex<[[String]]>([])
        init(failures: Int) { failuresLeft = Mutex(failures) }
    }

    let port: Int
    let state: State
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(failures: Int) async throws {
        port = try freePort()
        let state = State(failures: failures)
        self.state = state
        let router = Router()
        router.post("/bcsstorage/v1/events/batch") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let uids = (try JSONValue.parse(body.readableBytesView).arrayValue ?? []).compactMap { $0[path: "data", "metadata", "uid"]?.stringValue }
            state.attempts.withLock { $0 += 1 }
            if uids.contains("bad") { return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: #"{"message":"events[1]: bad"}"#))) }
            let fail = state.failuresLeft.withLock { left in
                defer { left = max(left - 1, 0) }
                return left > 0
            }
            if fail { return Response(status: .serviceUnavailable) }
            state.accepted.withLock { $0.append(uids) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"result":true}"#)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: Logger(label: "fake-storage"))
        group = ServiceGroup(services: [app], logger: Logger(label: "fake-storage"))
        let group = self.group
        task = Task { try await group.run() }
        try await eventually(within: .seconds(10)) {
            (try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(self.port)/"), timeout: .seconds(2))) != nil
        }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

@Suite struct EventShipperTests {
    static func event(_ uid: String) -> QueuedEvent {
        QueuedEvent(body: .object(["env": .string("k8s"), "data": .object(["metadata": .object(["uid": .string(uid)])])]), happened: Date())
    }

    static func shipper(_ queue: ShippingQueue<QueuedEvent>, _ storage: FakeStorage) -> EventShipper {
        EventShipper(queue: queue, storage: .direct(url: "http://127.0.0.1:\(storage.port)", httpClient: .shared), batchSize: 10,
                     flushInterval: .milliseconds(20), backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200)),
                     metrics: WatchMetrics(), logger: Logger(label: "test"))
    }

    @Test func unavailableStorageIsRetriedUntilItAcceptsTheBatch() async throws {
        let storage = try await FakeStorage(failures: 3)
        let queue = ShippingQueue<QueuedEvent>(capacity: 100, maxBlock: .seconds(60))
        for index in 0..<5 { await queue.enqueue(key: "u\(index)", item: Self.event("u\(index)")) }
        let shipper = Self.shipper(queue, storage)
        let running = Task { await shipper.run() }
        try await eventually(within: .seconds(20)) { storage.state.accepted.withLock { !$0.isEmpty } }
        #expect(storage.state.accepted.withLock { $0 } == [["u0", "u1", "u2", "u3", "u4"]])
        #expect(storage.state.attempts.withLock { $0 } == 4, "three 503 answers, then success")
        // The batch frees its places once the shipper has read storage's answer.
        try await eventually(within: .seconds(20)) { await queue.count == 0 }
        await queue.close()
        await running.value
        await storage.stop()
    }

    @Test func aRejectedBatchIsResentOneByOneAndOnlyTheBadEventIsDropped() async throws {
        let storage = try await FakeStorage(failures: 0)
        let queue = ShippingQueue<QueuedEvent>(capacity: 100, maxBlock: .seconds(60))
        for uid in ["u0", "bad", "u2"] { await queue.enqueue(key: uid, item: Self.event(uid)) }
        let shipper = Self.shipper(queue, storage)
        let running = Task { await shipper.run() }
        try await eventually(within: .seconds(20)) { storage.state.accepted.withLock { $0.count == 2 } }
        #expect(storage.state.accepted.withLock { $0 } == [["u0"], ["u2"]])
        await queue.close()
        await running.value
        await storage.stop()
    }
}
