/// A bounded, keyed queue between the watches (producers) and the shippers (consumers).
///
/// Keys coalesce: a newer version of an object still waiting replaces the waiting one in place,
/// so a burst of updates to one object costs one write and the queue holds at most one entry per
/// object. A key being shipped is never handed out twice at once: a newer version waits aside
/// until the shipment completes, which keeps PUT and DELETE of one object in order.
///
/// When `capacity` entries are held, `enqueue` suspends: the watch stops reading its stream and
/// the apiserver's TCP window closes (backpressure), instead of dropping. Only after waiting
/// longer than `maxBlock` — set to the apiserver's event retention, after which the oldest
/// waiting entries would be gone from the cluster anyway — does it drop the oldest waiting entry,
/// and every drop is reported through `onDrop`, never silent.
public actor ShippingQueue<Item: Sendable> {
    public struct Entry: Sendable {
        public let key: String
        public let item: Item
        public let enqueued: ContinuousClock.Instant
    }

    public let capacity: Int
    public let maxBlock: Duration
    private let onDrop: @Sendable (String) -> Void
    private let onDepth: @Sendable (Int) -> Void

    private var pending: [String: Entry] = [:]
    private var order: [String] = []
    private var orderHead = 0
    private var inFlight: Set<String> = []
    private var deferred: [String: Entry] = [:]
    private var producers: [Int: CheckedContinuation<Void, Never>] = [:]
    private var consumers: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0
    private var closed = false

    public init(capacity: Int, maxBlock: Duration, onDrop: @escaping @Sendable (String) -> Void = { _ in },
                onDepth: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.capacity = max(capacity, 1)
        self.maxBlock = maxBlock
        self.onDrop = onDrop
        self.onDepth = onDepth
    }

    /// Entries held: waiting, being shipped, or waiting for their key's shipment to finish.
    public var count: Int { pending.count + inFlight.count + deferred.count }
    public var isClosed: Bool { closed }

    /// Whether `key` is waiting or being shipped.
    public func contains(_ key: String) -> Bool { pending[key] != nil || inFlight.contains(key) || deferred[key] != nil }

    /// Adds or replaces the entry for `key`, suspending while the queue is full.
    ///
    /// Returns false only when the queue was closed (shutdown) or the calling task was cancelled.
    @discardableResult
    public func enqueue(key: String, item: Item) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + maxBlock
        while true {
            if closed || Task.isCancelled { return false }
            if let existing = pending[key] {
                pending[key] = Entry(key: key, item: item, enqueued: existing.enqueued)
                return true
            }
            if inFlight.contains(key), let existing = deferred[key] {
                deferred[key] = Entry(key: key, item: item, enqueued: existing.enqueued)
                return true
            }
            if count < capacity {
                let entry = Entry(key: key, item: item, enqueued: clock.now)
                if inFlight.contains(key) {
                    deferred[key] = entry
                } else {
                    insertPending(entry)
                }
                onDepth(count)
                return true
            }
            if clock.now >= deadline, dropOldest() { continue }
            await waitForSpace(atMost: min(max(deadline - clock.now, .milliseconds(10)), .seconds(1)))
        }
    }

    /// The next batch of at most `max` entries, once `max` are waiting or the oldest has waited
    /// `linger`; nil once the queue is closed and empty. The caller must `complete` the keys.
    public func nextBatch(max: Int, linger: Duration) async -> [Entry]? {
        let clock = ContinuousClock()
        while true {
            if Task.isCancelled { return nil }
            if let oldest = oldestPending() {
                let age = clock.now - oldest.enqueued
                if pending.count >= max || age >= linger || closed { return take(max) }
                await waitForItems(atMost: linger - age)
            } else {
                if closed { return nil }
                await waitForItems(atMost: .seconds(1))
            }
        }
    }

    /// Marks shipped (or abandoned) keys done, freeing their places.
    public func complete(_ keys: [String]) {
        for key in keys {
            inFlight.remove(key)
            if let next = deferred.removeValue(forKey: key) { insertPending(next) }
        }
        onDepth(count)
        resumeAll(&producers)
        if !pending.isEmpty { resumeAll(&consumers) }
    }

    /// Stops accepting entries; consumers get what remains, then nil.
    public func close() {
        closed = true
        resumeAll(&producers)
        resumeAll(&consumers)
    }

    private func insertPending(_ entry: Entry) {
        pending[entry.key] = entry
        order.append(entry.key)
        if pending.count == 1 || closed { resumeAll(&consumers) } else if pending.count % 64 == 0 { resumeAll(&consumers) }
    }

    private func oldestPending() -> Entry? {
        while orderHead < order.count {
            if let entry = pending[order[orderHead]] { return entry }
            orderHead += 1
        }
        compactOrder()
        return nil
    }

    private func take(_ max: Int) -> [Entry] {
        var batch: [Entry] = []
        batch.reserveCapacity(min(max, pending.count))
        while batch.count < max, orderHead < order.count {
            let key = order[orderHead]
            orderHead += 1
            if let entry = pending.removeValue(forKey: key) {
                inFlight.insert(key)
                batch.append(entry)
            }
        }
        compactOrder()
        return batch
    }

    /// Drops the oldest waiting entry; false when nothing is waiting (everything is in flight).
    private func dropOldest() -> Bool {
        guard let oldest = oldestPending() else { return false }
        pending[oldest.key] = nil
        orderHead += 1
        compactOrder()
        onDrop(oldest.key)
        onDepth(count)
        return true
    }

    private func compactOrder() {
        if orderHead > 0, orderHead >= order.count {
            order.removeAll(keepingCapacity: true)
            orderHead = 0
        } else if orderHead > 4096, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }

    private func waitForSpace(atMost limit: Duration) async {
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { continuation in
            producers[id] = continuation
            Task { try? await Task.sleep(for: limit); self.wake(producer: id) }
        }
    }

    private func waitForItems(atMost limit: Duration) async {
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { continuation in
            consumers[id] = continuation
            Task { try? await Task.sleep(for: limit); self.wake(consumer: id) }
        }
    }

    private func wake(producer id: Int) { producers.removeValue(forKey: id)?.resume() }
    private func wake(consumer id: Int) { consumers.removeValue(forKey: id)?.resume() }

    private func resumeAll(_ waiters: inout [Int: CheckedContinuation<Void, Never>]) {
        let all = waiters.values
        waiters.removeAll()
        for continuation in all { continuation.resume() }
    }
}
