import BCSCore
import BCSMongo
import Foundation
import Hummingbird
import Metrics

/// `/bcsstorage/v1/events`: write one, write a batch, query.
struct EventController<Store: EventStore> {
    let store: Store
    let limits: StorageLimits

    private let received = Counter(label: "bcs_storage_events_received_total")
    private let inserted = Counter(label: "bcs_storage_events_written_total", dimensions: [("result", "inserted")])
    private let updated = Counter(label: "bcs_storage_events_written_total", dimensions: [("result", "updated")])
    private let ignored = Counter(label: "bcs_storage_events_written_total", dimensions: [("result", "ignored")])

    init(store: Store, limits: StorageLimits) {
        self.store = store
        self.limits = limits
    }

    /// Filters that take comma lists, with the document field each one matches.
    static var listFilters: [(parameter: String, field: String)] { [
        ("id", "id"), ("env", "env"), ("kind", "kind"), ("level", "level"), ("component", "component"), ("type", "type"),
        ("clusterId", "clusterId"), ("extraInfo.name", "extraInfo.name"), ("extraInfo.namespace", "extraInfo.namespace"),
        ("extraInfo.kind", "extraInfo.kind"),
    ] }

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.put("events") { request, _ in try await put(request) }
        group.post("events/batch") { request, _ in try await batch(request) }
        group.get("events") { request, _ in try await list(request) }
    }

    func put(_ request: Request) async throws -> Response {
        let body = try await StorageBody.json(request, limit: limits.eventBodyBytes)
        let event = try StorageEvent(parsing: body)
        return try await write([event])
    }

    /// Up to `maxBatch` events, as a JSON array or `{"events": [...]}`; validated as a whole
    /// before anything is written.
    func batch(_ request: Request) async throws -> Response {
        let body = try await StorageBody.json(request, limit: limits.batchBodyBytes)
        let items: [BSON]
        switch body {
        case .array(let values): items = values
        case .document(let doc):
            guard case .array(let values)? = doc["events"] else {
                throw StorageCode.badRequest("body must be a JSON array of events or {\"events\": [...]}")
            }
            items = values
        default:
            throw StorageCode.badRequest("body must be a JSON array of events or {\"events\": [...]}")
        }
        guard !items.isEmpty else { throw StorageCode.badRequest("the batch is empty") }
        guard items.count <= limits.maxBatch else {
            throw BCSAPIError(.contentTooLarge, code: StorageCode.unmarshalFailed, "a batch holds at most \(limits.maxBatch) events, not \(items.count)")
        }
        let events = try items.enumerated().map { try StorageEvent(parsing: $1, path: "events[\($0)]") }
        return try await write(events)
    }

    private func write(_ events: [StorageEvent]) async throws -> Response {
        received.increment(by: Int64(events.count))
        let summary = try await store.write(events)
        inserted.increment(by: Int64(summary.inserted))
        updated.increment(by: Int64(summary.updated))
        ignored.increment(by: Int64(summary.ignored))
        return bcsSuccess(summary)
    }

    func list(_ request: Request) async throws -> Response {
        let query = QueryParameters(request)
        var filter = BSONDocument()
        for (parameter, field) in Self.listFilters { query.addListFilter(parameter, field: field, to: &filter) }
        try query.addTimeRange(field: "eventTime", to: &filter)
        try query.addExtra(to: &filter)
        try query.addExtraContain(to: &filter)
        let page = try query.page(sizeParameter: "length", defaultSize: limits.defaultPage, maxSize: limits.maxPage)
        let projection = try query.projection()
        let result = try await store.query(filter: filter, projection: projection, offset: page.offset, limit: page.size)
        return bcsSuccess(result.documents.map(StoredDocument.forOutput), total: result.total)
    }
}
