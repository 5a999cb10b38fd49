import BCSMongo

/// One change to a stored object, as a watch stream sends it.
struct WatchEvent: Sendable {
    enum Kind: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED" }
    let resourceVersion: Int
    let kind: Kind
    let resource: String
    let namespace: String
    let object: BSONDocument
    /// The object before a MODIFIED change, so a selector watch can tell entering from leaving.
    var previous: BSONDocument?

    /// How a watch filtered by `matches` sees this change: entering the selection is ADDED,
    /// leaving it DELETED (as the apiserver reports), and nil when neither version matches.
    func seen(through matches: (BSONDocument) -> Bool) -> Kind? {
        let now = matches(object)
        guard kind == .modified, let previous else { return now ? kind : nil }
        switch (matches(previous), now) {
        case (true, true): return .modified
        case (false, true): return .added
        case (true, false): return .deleted
        case (false, false): return nil
        }
    }
}

/// The watch window: the most recent changes, oldest first, bounded by `capacity`.
///
/// A watch may resume from any resourceVersion at or after `floor` (the RV of the last change
/// dropped); an older one gets 410 Expired, exactly as the apiserver's watch cache does.
struct WatchWindow: Sendable {
    let capacity: Int
    private var events: [WatchEvent] = []
    private var head = 0
    private(set) var floor: Int

    init(capacity: Int, floor: Int) {
        self.capacity = max(1, capacity)
        self.floor = floor
    }

    mutating func append(_ event: WatchEvent) {
        events.append(event)
        if events.count - head > capacity {
            floor = events[head].resourceVersion
            head += 1
            if head > capacity { events.removeFirst(head); head = 0 }
        }
    }

    /// Changes after `resourceVersion`, or nil when that version fell out of the window.
    func since(_ resourceVersion: Int) -> [WatchEvent]? {
        guard resourceVersion >= floor else { return nil }
        return events[head...].filter { $0.resourceVersion > resourceVersion }
    }
}
