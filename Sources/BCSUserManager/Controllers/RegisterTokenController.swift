import BCSCore
import Foundation
import Hummingbird
import Logging

/// `/usermanager/v1/clusters/{cluster_id}/register_tokens`: create, get and rotate (admin only).
///
/// One token per cluster, 128 random characters, never expiring (as BCS). Rotation (an addition)
/// replaces it; the old token stops working before the response is sent. The token is stored as a
/// lookup hash and a sealed copy (GET returns it, as BCS does), and its hash is also armed on the
/// cluster's credentials record, which is what a report is checked against.
struct RegisterTokenController {
    let services: UserManagerServices

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.post("clusters/{cluster_id}/register_tokens") { request, context in try await create(request, context) }
        group.get("clusters/{cluster_id}/register_tokens") { request, context in try await get(request, context) }
        group.put("clusters/{cluster_id}/register_tokens/rotate") { request, context in try await rotate(request, context) }
        group.post("clusters/{cluster_id}/register_tokens/rotate") { request, context in try await rotate(request, context) }
    }

    func create(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        guard try await services.clusters.cluster(id: id) != nil else { throw UMError.badRequest("cluster [\(id)] not found") }
        // BCS answers an existing token with HTTP 500 and the bad-request code (a rewritten MySQL 1062).
        let exists = BCSAPIError(.internalServerError, code: UserManagerCode.badRequest,
                                 "errcode: \(UserManagerCode.badRequest), can not create register token: token already exists")
        if try await services.clusters.registerToken(clusterID: id) != nil { throw exists }
        let token = TokenGenerator.registerToken()
        let record = RegisterTokenRecord(
            id: try await services.clusters.nextID("register_tokens"), clusterID: id,
            tokenKey: services.box.lookupKey(token, purpose: .registerToken),
            sealedToken: try services.box.seal(token, context: RegisterTokenRecord.sealContext(clusterID: id)), createdAt: Date()
        )
        do {
            try await services.clusters.insertRegisterToken(record)
        } catch StoreError.duplicate {
            throw exists
        }
        try await services.credentials.armRegisterToken(clusterID: id, tokenKey: record.tokenKey)
        services.logger.info("usermanager: register token created", metadata: ["cluster": "\(id)"])
        return bcsSuccess(Self.response(record, token: token))
    }

    func get(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        guard let record = try await services.clusters.registerToken(clusterID: id) else { throw UMError.badRequest("register token not found") }
        return bcsSuccess(Self.response(record, token: try services.open(record.sealedToken, context: RegisterTokenRecord.sealContext(clusterID: id))))
    }

    func rotate(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        guard var record = try await services.clusters.registerToken(clusterID: id) else { throw UMError.badRequest("register token not found") }
        let token = TokenGenerator.registerToken()
        record.tokenKey = services.box.lookupKey(token, purpose: .registerToken)
        record.sealedToken = try services.box.seal(token, context: RegisterTokenRecord.sealContext(clusterID: id))
        record.createdAt = Date()
        // The authoritative record first, then the armed copy: a report's repair path can then only re-arm the new token.
        guard try await services.clusters.replaceRegisterToken(clusterID: id, tokenKey: record.tokenKey, sealedToken: record.sealedToken, createdAt: record.createdAt) else {
            throw UMError.badRequest("register token not found")
        }
        try await services.credentials.armRegisterToken(clusterID: id, tokenKey: record.tokenKey)
        services.logger.info("usermanager: register token rotated", metadata: ["cluster": "\(id)"])
        return bcsSuccess(Self.response(record, token: token))
    }

    static func response(_ record: RegisterTokenRecord, token: String) -> RegisterTokenResponse {
        RegisterTokenResponse(id: record.id, cluster_id: record.clusterID, token: token, created_at: BCSTime.format(record.createdAt))
    }
}
