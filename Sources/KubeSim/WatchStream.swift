import Foundation
import BCSMongo
import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// A `watch=1` response: chunked JSON, one `{"type":…,"object":…}` per line.
///
/// Replays what the client missed since `resourceVersion` (everything current, as ADDED, when it
/// is absent or `0`), then follows live changes; `allowWatchBookmarks` adds periodic BOOKMARKs and
/// `timeoutSeconds` ends the stream. A resourceVersion older than the window gets the apiserver's
/// answer: 200, then one ERROR event carrying a 410 Expired Status.
struct WatchStream {
    let store: ObjectStore
    let type: ResourceType
    let namespace: String?
    let bookmarkInterval: Duration

    fileprivate enum Item: Sendable { case event(WatchEvent), bookmark, end }

    func response(query: FlatDictionary<Substring, Substring>, table: Bool) async throws -> Response {
        let labels = try Selector(parsing: String(query["labelSelector"] ?? ""))
        let fields = try Selector(parsing: String(query["fieldSelector"] ?? ""))
        let rvText = String(query["resourceVersion"] ?? "")
        var from: Int?
        if !rvText.isEmpty, rvText != "0" {
            guard let rv = Int(rvText) else { throw KubeStatus.badRequest("invalid resourceVersion \"\(rvText)\"") }
            from = rv
        }
        let bookmarks = query["allowWatchBookmarks"] == "true"
        // Like the apiserver (--min-request-timeout 1800 × a random factor in [1, 2)), a watch
        // without timeoutSeconds still ends, which also bounds how long a vanished client's
        // watch can linger when no change arrives to reveal the broken connection.
        let timeout = query["timeoutSeconds"].flatMap { Int($0) } ?? Int.random(in: 1800..<3600)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"

        // The store puts changes in `pending` and rings the doorbell; the writer takes everything
        // that gathered and writes it at once, so a busy stream costs one write per batch, not per event.
        let pending = PendingItems(capacity: ObjectStore.watcherBuffer)
        let (doorbell, ring) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let sink = WatchSink(
            deliver: { event in
                guard pending.append(.event(event)) else { return false }
                ring.yield()
                return true
            },
            finish: {
                pending.append(.end)
                ring.yield()
            })
        let started: (id: UUID, replay: [WatchEvent])
        do throws(KubeStatus) {
            started = try await store.watch(type, namespace: namespace, from: from, sink: sink)
        } catch {
            let event: BSONDocument = ["type": "ERROR", "object": .document(error.document)]
            let line = JSONText.render(event) + "\n"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: line)))
        }
        let (store, type, interval) = (self.store, self.type, self.bookmarkInterval)
        let ticker = Task {
            guard bookmarks else { return }
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                pending.append(.bookmark)
                ring.yield()
            }
        }
        let timer = Task {
            try await Task.sleep(for: .seconds(timeout))
            pending.append(.end)
            ring.yield()
        }
        let body = ResponseBody { writer in
            var first = true
            func render(_ event: WatchEvent) -> String {
                guard let kind = event.seen(through: { labels.matchesLabels(of: $0) && fields.matchesFields(of: $0) }) else { return "" }
                let object = table ? TableView.table(type, [event.object], resourceVersion: event.resourceVersion, withColumns: first) : event.object
                first = false
                let line: BSONDocument = ["type": .string(kind.rawValue), "object": .document(object)]
                return JSONText.render(line) + "\n"
            }
            do {
                var chunk = ""
                for event in started.replay { chunk += render(event) }
                if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
                loop: for await _ in doorbell {
                    chunk = ""
                    var ended = false
                    items: for item in pending.takeAll() {
                        switch item {
                        case .event(let event):
                            chunk += render(event)
                        case .bookmark:
                            let rv = await store.resourceVersion
                            let object: BSONDocument = ["kind": .string(type.kind), "apiVersion": .string(type.groupVersion),
                                                        "metadata": .document(["resourceVersion": .string(String(rv))])]
                            let bookmark: BSONDocument = ["type": "BOOKMARK", "object": .document(object)]
                            chunk += JSONText.render(bookmark) + "\n"
                        case .end:
                            ended = true
                            break items
                        }
                    }
                    if !chunk.isEmpty { try await writer.write(ByteBuffer(string: chunk)) }
                    if ended { break loop }
                    // A short pause lets a busy stream gather its next batch.
                    try await Task.sleep(for: .milliseconds(5))
                }
            } catch {
                ticker.cancel(); timer.cancel()
                await store.stopWatching(started.id)
                throw error
            }
            ticker.cancel(); timer.cancel()
            await store.stopWatching(started.id)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// What a watch's producers gathered for its writer, in order; at most `capacity` changes.
private final class PendingItems: Sendable {
    private let items = Mutex<[WatchStream.Item]>([])
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// False (and nothing added) when `capacity` changes are already waiting.
    @discardableResult
    func append(_ item: WatchStream.Item) -> Bool {
        items.withLock { items in
            if case .event = item, items.count >= capacity { return false }
            items.append(item)
            return true
        }
    }

    func takeAll() -> [WatchStream.Item] {
        items.withLock { items in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}
