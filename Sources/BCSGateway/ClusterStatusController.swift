import BCSCore
import BCSUserManager
import Hummingbird

/// `GET /gateway/v1/clusters`: every registered cluster's health as this gateway sees it.
///
/// Answers in BCS's envelope; needs a user allowed to GET the `cluster` resource `*` (an admin).
struct ClusterStatusController: Sendable {
    let registry: ClusterRegistry
    let access: AccessControl?

    func addRoutes(to router: Router<BCSRequestContext>) {
        router.get("gateway/v1/clusters") { request, _ -> Response in
            guard let access else {
                throw BCSAPIError(.serviceUnavailable, code: 1405050, "the gateway needs a co-hosted usermanager role")
            }
            let token = request.bearerToken
            switch try await access.decide(token: token, resourceType: "cluster", resource: "*", action: "GET") {
            case .unauthenticated(let why), .forbidden(let why):
                throw BCSAPIError(.unauthorized, code: 1405059, why)
            case .allowed:
                var statuses: [ClusterStatus] = []
                for actor in await registry.all { statuses.append(await actor.status()) }
                return bcsSuccess(statuses.sorted { $0.cluster_id < $1.cluster_id })
            }
        }
    }
}
