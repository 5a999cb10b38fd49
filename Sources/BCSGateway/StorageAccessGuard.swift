import BCSCore
import BCSUserManager
import Hummingbird

/// Authorises requests to storage through the gateway's public path, `/bcsapi/v4/storage/…`.
///
/// bcs-storage itself checks no credentials (it is an internal service; `/bcsstorage/v1` on a
/// storage process stays as it is). Through the public front, a caller needs a valid token and a
/// `storage` permission for the verb: `viewer` reads, `manager` writes; an admin may do everything.
/// The resource is the cluster the path or `clusterId` query names, else `*` (a batch of events,
/// whose cluster is in each body, needs a permission on `*`).
struct StorageAccessGuard: Sendable {
    static let prefix = "/bcsapi/v4/storage/"
    let access: AccessControl

    var pathGuard: PublicPathGuard {
        PublicPathGuard(prefix: Self.prefix) { request in try await check(request) }
    }

    func check(_ request: Request) async throws {
        let resource = Self.cluster(path: request.uri.path, query: request.uri.query) ?? "*"
        switch try await access.decide(token: request.bearerToken, resourceType: "storage", resource: resource, action: request.method.rawValue) {
        case .allowed:
            return
        case .unauthenticated(let why):
            throw BCSAPIError(.unauthorized, code: 1405059, "storage through the gateway needs a BCS token: \(why)")
        case .forbidden(let why):
            throw BCSAPIError(.forbidden, code: 1405058, "\(why) (grant a storage permission)")
        }
    }

    /// The cluster a storage path or query names: `…/clusters/{id}/…` or `clusterId={id}`.
    static func cluster(path: String, query: String?) -> String? {
        let segments = path.split(separator: "/")
        if let index = segments.firstIndex(of: "clusters"), index + 1 < segments.count { return String(segments[index + 1]) }
        for item in (query ?? "").split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == "clusterId", !pair[1].contains(",") { return String(pair[1]) }
        }
        return nil
    }
}
