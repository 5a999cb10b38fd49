import BCSCore
import BCSMongo
import Foundation
import Hummingbird

/// `/bcsstorage/v1/k8s/dynamic/{namespace_resources|cluster_resources|all_resources}/…`.
struct DynamicResourceController<Store: DynamicResourceStore> {
    let store: Store
    let limits: StorageLimits

    enum Scope {
        case namespaced, cluster, all
    }

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        let ns = "k8s/dynamic/namespace_resources/clusters/{clusterId}/namespaces/{namespace}/{resourceType}"
        group.put(RouterPath("\(ns)/{resourceName}")) { request, context in try await put(request, key(context, .namespaced)) }
        group.get(RouterPath("\(ns)/{resourceName}")) { _, context in try await get(key(context, .namespaced)) }
        group.delete(RouterPath("\(ns)/{resourceName}")) { _, context in try await delete(key(context, .namespaced)) }
        group.get(RouterPath(ns)) { request, context in try await list(request, context, .namespaced) }
        group.delete(RouterPath(ns)) { request, context in try await deleteMany(request, context, .namespaced) }

        let cluster = "k8s/dynamic/cluster_resources/clusters/{clusterId}/{resourceType}"
        group.put(RouterPath("\(cluster)/{resourceName}")) { request, context in try await put(request, key(context, .cluster)) }
        group.get(RouterPath("\(cluster)/{resourceName}")) { _, context in try await get(key(context, .cluster)) }
        group.delete(RouterPath("\(cluster)/{resourceName}")) { _, context in try await delete(key(context, .cluster)) }
        group.get(RouterPath(cluster)) { request, context in try await list(request, context, .cluster) }
        group.delete(RouterPath(cluster)) { request, context in try await deleteMany(request, context, .cluster) }

        let all = "k8s/dynamic/all_resources/clusters/{clusterId}/{resourceType}"
        group.get(RouterPath(all)) { request, context in try await list(request, context, .all) }
        group.delete(RouterPath(all)) { request, context in try await deleteMany(request, context, .all) }
    }

    private func parameter(_ context: BCSRequestContext, _ name: String) throws -> String {
        guard let raw = context.parameters.get(name), let value = raw.removingPercentEncoding, !value.isEmpty, value.utf8.count <= 253 else {
            throw StorageCode.badRequest("path parameter \(name) must be 1 to 253 characters")
        }
        return value
    }

    private func key(_ context: BCSRequestContext, _ scope: Scope) throws -> ResourceKey {
        ResourceKey(
            clusterId: try parameter(context, "clusterId"),
            resourceType: try parameter(context, "resourceType"),
            namespace: scope == .namespaced ? try parameter(context, "namespace") : "",
            resourceName: try parameter(context, "resourceName")
        )
    }

    /// `{"data": {...}}`: upsert, keeping `createTime` and refreshing `updateTime`.
    func put(_ request: Request, _ key: ResourceKey) async throws -> Response {
        let body = try await StorageBody.json(request, limit: limits.resourceBodyBytes)
        guard case .document(let doc) = body else { throw StorageCode.badRequest("body must be a JSON object {\"data\": {...}}", code: StorageCode.putFailed) }
        guard let data = doc["data"], case .document = data else {
            throw StorageCode.badRequest("field 'data' is required and must be an object", code: StorageCode.putFailed)
        }
        let created = try await store.put(key, data: try FieldNames.forStorage(data, path: "data"))
        return bcsSuccessNoData(status: created ? .created : .ok)
    }

    func get(_ key: ResourceKey) async throws -> Response {
        guard let document = try await store.get(key) else {
            throw StorageCode.notFound("resource does not exist.")
        }
        return bcsSuccess(StoredDocument.forOutput(document))
    }

    func delete(_ key: ResourceKey) async throws -> Response {
        guard try await store.delete(key) else {
            throw StorageCode.notFound("resource does not exist.", code: StorageCode.deleteFailed)
        }
        return bcsSuccessNoData()
    }

    private func scopeFilter(_ context: BCSRequestContext, _ scope: Scope) throws -> BSONDocument {
        var filter: BSONDocument = ["clusterId": .string(try parameter(context, "clusterId")), "resourceType": .string(try parameter(context, "resourceType"))]
        switch scope {
        case .namespaced: filter["namespace"] = .string(try parameter(context, "namespace"))
        case .cluster: filter["namespace"] = ""
        case .all: break
        }
        return filter
    }

    /// Query filters shared by list and batch delete: `extra` and `labelSelector`.
    private func queryFilter(_ query: QueryParameters, base: BSONDocument) throws -> BSONDocument {
        var filter = base
        try query.addExtra(to: &filter)
        if let selector = query["labelSelector"] {
            for (key, value) in try LabelSelector(parsing: selector).filter() { filter[key] = value }
        }
        return filter
    }

    func list(_ request: Request, _ context: BCSRequestContext, _ scope: Scope) async throws -> Response {
        let query = QueryParameters(request)
        let filter = try queryFilter(query, base: try scopeFilter(context, scope))
        let page = try query.page(sizeParameter: "limit", defaultSize: limits.defaultResourcePage, maxSize: limits.maxResourcePage)
        let result = try await store.list(filter: filter, projection: try query.projection(), offset: page.offset, limit: page.size)
        return bcsSuccess(result.documents.map(StoredDocument.forOutput), total: result.total)
    }

    /// Deletes every matching resource; an optional body `{updateTimeBegin, updateTimeEnd}` (unix s)
    /// limits it to those last updated in that window.
    func deleteMany(_ request: Request, _ context: BCSRequestContext, _ scope: Scope) async throws -> Response {
        var filter = try queryFilter(QueryParameters(request), base: try scopeFilter(context, scope))
        let buffer = try await BCSBody.collect(request, limit: 64 << 10, code: StorageCode.deleteFailed)
        if buffer.readableBytes > 0 {
            guard case .document(let body)? = try? buffer.withUnsafeReadableBytes({ try JSONToBSON.parse($0) }) else {
                throw StorageCode.badRequest("body must be a JSON object {updateTimeBegin, updateTimeEnd}", code: StorageCode.deleteFailed)
            }
            var range = BSONDocument()
            for (name, op) in [("updateTimeBegin", "$gte"), ("updateTimeEnd", "$lte")] {
                guard let value = body[name], !value.isNull else { continue }
                guard let seconds = value.intValue, seconds >= 0 else {
                    throw StorageCode.badRequest("\(name) must be unix seconds", code: StorageCode.deleteFailed)
                }
                range[op] = .datetime(Int64(seconds) * 1000)
            }
            if !range.isEmpty { filter["updateTime"] = .document(range) }
        }
        let deleted = try await store.deleteMany(filter: filter)
        return bcsSuccess(["deleted": BSON.int64(Int64(deleted))] as BSONDocument)
    }
}

import NIOFoundationCompat
