import Synchronization
import Testing
@testable import BCSK8sWatch

@Suite struct ShippingQueueTests {
    @Test func newerVersionsReplaceWaitingOnesInPlace() async throws {
        let queue = ShippingQueue<Int>(capacity: 10, maxBlock: .seconds(60))
        await queue.enqueue(key: "a", item: 1)
        await queue.enqueue(key: "b", item: 1)
        await queue.enqueue(key: "a", item: 2)
        #expect(await queue.count == 2)
        let batch = try #require(await queue.nextBatch(max: 10, linger: .zero))
        #expect(batch.map(\.key) == ["a", "b"])
        #expect(batch.map(\.item) == [2, 1])
    }

    @Test func batchesLeaveWhenFullOrWhenTheOldestHasWaited() async throws {
        let queue = ShippingQueue<Int>(capacity: 100, maxBlock: .seconds(60))
        for index in 0..<7 { await queue.enqueue(key: "k\(index)", item: index) }
        let full = try #require(await queue.nextBatch(max: 5, linger: .seconds(3600)))
        #expect(full.count == 5)
        // Two remain, fewer than the batch size: they leave once the oldest waited the linger time.
        let started = ContinuousClock.now
        let rest = try #require(await queue.nextBatch(max: 5, linger: .milliseconds(300)))
        #expect(rest.map(\.item) == [5, 6])
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aFullQueueMakesProducersWaitInsteadOfDropping() async throws {
        let queue = ShippingQueue<Int>(capacity: 2, maxBlock: .seconds(3600))
        await queue.enqueue(key: "a", item: 1)
        await queue.enqueue(key: "b", item: 1)
        let accepted = Flag()
        let producer = Task {
            await queue.enqueue(key: "c", item: 1)
            accepted.set()
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!accepted.isSet)
        let batch = try #require(await queue.nextBatch(max: 1, linger: .zero))
        #expect(!accepted.isSet, "taking a batch does not free a place; completing it does")
        await queue.complete(batch.map(\.key))
        await producer.value
        #expect(accepted.isSet)
        #expect(await queue.count == 2)
    }

    @Test func afterMaxBlockTheOldestWaitingEntryIsDroppedAndReported() async throws {
        let drops = Mutex<[String]>([])
        let queue = ShippingQueue<Int>(capacity: 2, maxBlock: .milliseconds(200), onDrop: { key in drops.withLock { $0.append(key) } })
        await queue.enqueue(key: "old", item: 1)
        await queue.enqueue(key: "mid", item: 1)
        await queue.enqueue(key: "new", item: 1)
        #expect(drops.withLock { $0 } == ["old"])
        let batch = try #require(await queue.nextBatch(max: 10, linger: .zero))
        #expect(batch.map(\.key) == ["mid", "new"])
    }

    @Test func aKeyInFlightIsNotHandedOutTwiceAndItsNewerVersionFollows() async throws {
        let queue = ShippingQueue<Int>(capacity: 10, maxBlock: .seconds(60))
        await queue.enqueue(key: "a", item: 1)
        let first = try #require(await queue.nextBatch(max: 10, linger: .zero))
        await queue.enqueue(key: "a", item: 2)
        await queue.enqueue(key: "a", item: 3)
        await queue.enqueue(key: "b", item: 1)
        let second = try #require(await queue.nextBatch(max: 10, linger: .zero))
        #expect(second.map(\.key) == ["b"], "a is still in flight")
        await queue.complete(first.map(\.key))
        let third = try #require(await queue.nextBatch(max: 10, linger: .zero))
        #expect(third.map(\.key) == ["a"])
        #expect(third.map(\.item) == [3])
    }

    @Test func closingDeliversWhatRemainsThenEnds() async throws {
        let queue = ShippingQueue<Int>(capacity: 10, maxBlock: .seconds(60))
        await queue.enqueue(key: "a", item: 1)
        await queue.close()
        #expect(await queue.enqueue(key: "b", item: 1) == false)
        let last = try #require(await queue.nextBatch(max: 10, linger: .seconds(3600)))
        #expect(last.map(\.key) == ["a"])
        #expect(await queue.nextBatch(max: 10, linger: .seconds(3600)) == nil)
    }
}

/// A flag set by one task and read by another.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
