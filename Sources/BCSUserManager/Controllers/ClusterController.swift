import BCSCore
import Foundation
import Hummingbird
import Logging

/// `/usermanager/v1/clusters`: register, list, get and delete clusters (admin only).
///
/// BCS has only the POST; listing (with each cluster's last credential report), getting and
/// deleting are additions. Deleting removes the cluster's register token, credentials and grants,
/// and tells the cluster actors (`CredentialChange.removed`).
struct ClusterController {
    let services: UserManagerServices

    struct Form: Decodable {
        var cluster_id: String?
        var cluster_type: String?
        var tke_cluster_id: String?
        var tke_cluster_region: String?
    }

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.post("clusters") { request, context in try await create(request, context) }
        group.get("clusters") { request, context in try await list(request, context) }
        group.get("clusters/{cluster_id}") { request, context in try await get(request, context) }
        group.delete("clusters/{cluster_id}") { request, context in try await delete(request, context) }
    }

    func create(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let caller = try await services.auth.authenticate(request, requiring: .admin)
        let form = try await services.decode(Form.self, from: request)
        let id = try Validate.clusterID(form.cluster_id)
        let typeName = try Validate.required(form.cluster_type, "cluster_type")
        guard let type = ClusterType(name: typeName) else {
            throw UMError.badRequest("field 'cluster_type' must be one of k8s, mesos, tke, not '\(Validate.printable(typeName))'")
        }
        var tkeID = "", tkeRegion = ""
        if type == .tke {
            tkeID = try Validate.required(form.tke_cluster_id, "tke_cluster_id", maxBytes: 128)
            tkeRegion = try Validate.required(form.tke_cluster_region, "tke_cluster_region", maxBytes: 128)
        }
        let cluster = ClusterRecord(id: id, type: type, tkeClusterID: tkeID, tkeClusterRegion: tkeRegion, creatorID: caller.id, createdAt: Date())
        do {
            try await services.clusters.insert(cluster)
        } catch StoreError.duplicate {
            throw UMError.badRequest("cluster [\(id)] already exist")
        }
        services.logger.info("usermanager: cluster registered", metadata: ["cluster": "\(id)", "by": "\(caller.name)"])
        return bcsSuccess(ClusterResponse(cluster))
    }

    func list(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        async let clusters = services.clusters.clusters()
        async let reports = services.credentials.lastReports()
        let (all, last) = try await (clusters, reports)
        return bcsSuccess(all.map { ClusterResponse($0, lastReport: .some(last[$0.id])) })
    }

    func get(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        guard let cluster = try await services.clusters.cluster(id: id) else { throw Self.notFound(id) }
        let reported = try await services.credentials.credentials(clusterID: id)
        return bcsSuccess(ClusterResponse(cluster, lastReport: .some(reported?.updatedAt)))
    }

    func delete(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let caller = try await services.auth.authenticate(request, requiring: .admin)
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        guard try await services.clusters.cluster(id: id) != nil else { throw Self.notFound(id) }
        // The token first: from then on no report can succeed, so the tombstone below is final.
        try await services.clusters.deleteRegisterToken(clusterID: id)
        let now = Date()
        try await services.credentials.markDeleted(clusterID: id, at: now)
        try await services.permissions.deleteGrants(resourceType: "cluster", resource: id)
        _ = try await services.clusters.deleteCluster(id: id)
        services.feed.publish(.removed(clusterID: id), version: BCSTime.millis(now))
        services.logger.info("usermanager: cluster deleted", metadata: ["cluster": "\(id)", "by": "\(caller.name)"])
        return bcsSuccessNoData()
    }

    static func notFound(_ id: String) -> BCSAPIError {
        UMError.notFound("cluster [\(id)] not found", code: UserManagerCode.clusterNotFound)
    }
}
