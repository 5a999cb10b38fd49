import BCSCore
import BCSMongo
import Foundation
import Hummingbird

/// `/bcsstorage/v1/alarms`: record one, query.
///
/// Body (BCS's `BcsStorageAlarmIf`): `{clusterId, namespace, message, source, module, type,
/// receivedTime (unix s), data}`; `clusterId`, `message` and `receivedTime` are required.
struct AlarmController<Store: AlarmStore> {
    let store: Store
    let limits: StorageLimits

    static var stringFields: [String] { ["namespace", "source", "module", "type"] }

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.post("alarms") { request, _ in try await post(request) }
        group.get("alarms") { request, _ in try await list(request) }
    }

    func post(_ request: Request) async throws -> Response {
        guard case .document(let body) = try await StorageBody.json(request, limit: limits.eventBodyBytes) else {
            throw StorageCode.badRequest("body must be a JSON object", code: StorageCode.putFailed)
        }
        var alarm = BSONDocument()
        for key in ["clusterId", "message"] {
            guard let value = body[key], !value.isNull else { throw StorageCode.badRequest("field '\(key)' is required", code: StorageCode.putFailed) }
            guard case .string(let s) = value, !s.isEmpty else { throw StorageCode.badRequest("field '\(key)' must be a non-empty string", code: StorageCode.putFailed) }
            alarm[key] = value
        }
        for key in Self.stringFields {
            switch body[key] {
            case nil, .null?: alarm[key] = ""
            case .string(let s)?: alarm[key] = .string(s)
            default: throw StorageCode.badRequest("field '\(key)' must be a string", code: StorageCode.putFailed)
            }
        }
        guard let time = body["receivedTime"], !time.isNull else { throw StorageCode.badRequest("field 'receivedTime' is required", code: StorageCode.putFailed) }
        guard let seconds = time.intValue, seconds >= 0, seconds < 253_402_300_800 else {
            throw StorageCode.badRequest("field 'receivedTime' must be unix seconds (a non-negative integer)", code: StorageCode.putFailed)
        }
        alarm["receivedTime"] = .datetime(Int64(seconds) * 1000)
        switch body["data"] {
        case nil, .null?: alarm["data"] = .document([:])
        case let data?: alarm["data"] = try FieldNames.forStorage(data, path: "data")
        }
        alarm["createTime"] = .date(Date())
        try await store.insert(alarm)
        return bcsSuccessNoData(status: .created)
    }

    func list(_ request: Request) async throws -> Response {
        let query = QueryParameters(request)
        var filter = BSONDocument()
        for name in ["clusterId", "namespace", "source", "module"] { query.addListFilter(name, to: &filter) }
        if let types = query["type"] {
            let patterns = types.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if patterns.count == 1 {
                filter["type"] = ["$regex": .string(NSRegularExpression.escapedPattern(for: patterns[0]))]
            } else if !patterns.isEmpty {
                filter["$or"] = .array(patterns.map { ["type": ["$regex": .string(NSRegularExpression.escapedPattern(for: $0))]] })
            }
        }
        try query.addTimeRange(field: "receivedTime", to: &filter)
        let page = try query.page(sizeParameter: "length", defaultSize: limits.defaultPage, maxSize: limits.maxPage)
        let result = try await store.query(filter: filter, projection: try query.projection(), offset: page.offset, limit: page.size)
        return bcsSuccess(result.documents.map(StoredDocument.forOutput), total: result.total)
    }
}
