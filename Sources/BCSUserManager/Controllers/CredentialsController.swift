import BCSCore
import BCSMongo
import Foundation
import Hummingbird
import Logging
import Metrics

/// `/usermanager/v1/clusters/{cluster_id}/credentials` and `/clusters/credentials`.
///
/// `PUT` is the kube-agent's report, authorised only by the cluster's register token in the body
/// (no bearer token, as in BCS). The report is checked and stored in one conditional write, then
/// published to the credential feed so the cluster's actor uses the new address, CA and token on
/// its next request. The CA and service-account token are stored sealed; the GET routes (admin)
/// return them in BCS's output shape (`ca_cert_data`).
struct CredentialsController {
    let services: UserManagerServices

    struct Form: Decodable {
        var register_token: String?
        var server_addresses: String?
        var cacert_data: String?
        var user_token: String?
    }

    func addRoutes(to group: RouterGroup<BCSRequestContext>) {
        group.put("clusters/{cluster_id}/credentials") { request, context in try await report(request, context) }
        group.get("clusters/{cluster_id}/credentials") { request, context in try await get(request, context) }
        group.get("clusters/credentials") { request, context in try await list(request, context) }
    }

    /// `bcs_usermanager_credential_reports_total{result="accepted"|"refused"}`.
    static let accepted = Counter(label: "bcs_usermanager_credential_reports_total", dimensions: [("result", "accepted")])
    static let refused = Counter(label: "bcs_usermanager_credential_reports_total", dimensions: [("result", "refused")])

    func report(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        do {
            let response = try await store(request, context)
            Self.accepted.increment()
            return response
        } catch {
            Self.refused.increment()
            throw error
        }
    }

    private func store(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        let form = try await services.decode(Form.self, from: request)
        let token = try Validate.required(form.register_token, "register_token", maxBytes: 256)
        let addresses = try Validate.required(form.server_addresses, "server_addresses", maxBytes: 4096)
        let ca = try Validate.required(form.cacert_data, "cacert_data", maxBytes: 48 * 1024)
        let saToken = try Validate.required(form.user_token, "user_token", maxBytes: 8192)
        let urls = try Validate.serverAddresses(addresses)
        try Validate.caCertificate(ca)

        let key = services.box.lookupKey(token, purpose: .registerToken)
        let sealedCA = try services.box.seal(ca, context: StoredCredentials.caContext(clusterID: id))
        let sealedToken = try services.box.seal(saToken, context: StoredCredentials.userTokenContext(clusterID: id))
        let now = Date()
        do {
            var stored = try await services.credentials.report(clusterID: id, tokenKey: key, serverAddresses: addresses,
                                                                sealedCACert: sealedCA, sealedUserToken: sealedToken, at: now)
            if !stored {
                try await checkToken(token, clusterID: id)
                // The token is right but the record was not armed (a crash between creating the token and arming it).
                try await services.credentials.armIfAbsent(clusterID: id, tokenKey: key)
                stored = try await services.credentials.report(clusterID: id, tokenKey: key, serverAddresses: addresses,
                                                                sealedCACert: sealedCA, sealedUserToken: sealedToken, at: now)
                guard stored else { throw UMError.badRequest("invalid register token given") }
            }
        } catch let error as MongoError {
            // BCS answers a database failure on this route with HTTP 400 and the bad-request code.
            services.logger.warning("usermanager: storing credentials failed", metadata: ["cluster": "\(id)", "error": "\(error)"])
            throw UMError.badRequest("could not store credentials for cluster [\(id)]: database \(error.isTransient ? "unavailable" : "error")")
        }
        services.feed.publish(.updated(ClusterCredentials(clusterID: id, serverAddresses: urls, caCertPEM: ca, serviceAccountToken: saToken,
                                                          clusterDomain: "", updatedAt: now)),
                              version: BCSTime.millis(now))
        return bcsSuccessNoData()
    }

    /// Explains a refused report: no token for the cluster, or the wrong one (compared in constant time).
    private func checkToken(_ token: String, clusterID: String) async throws {
        guard let record = try await services.clusters.registerToken(clusterID: clusterID) else {
            throw UMError.badRequest("no valid register token found for cluster")
        }
        guard services.box.matches(token, storedKey: record.tokenKey, purpose: .registerToken) else {
            throw UMError.badRequest("invalid register token given")
        }
    }

    func get(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        let id = try Validate.clusterID(context.parameters.get("cluster_id"))
        guard let stored = try await services.credentials.credentials(clusterID: id) else { throw UMError.badRequest("credentials not found") }
        let plain = try open(stored)
        return bcsSuccess(CredentialsResponse(
            id: stored.id, cluster_id: id, server_addresses: stored.serverAddresses, ca_cert_data: plain.caCertPEM,
            user_token: plain.serviceAccountToken, cluster_domain: stored.clusterDomain,
            created_at: BCSTime.format(stored.createdAt), updated_at: BCSTime.format(stored.updatedAt)
        ))
    }

    func list(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        _ = try await services.auth.authenticate(request, requiring: .admin)
        var map: [String: CredentialsMapEntry] = [:]
        for stored in try await services.credentials.allCredentials() {
            let plain = try open(stored)
            map[stored.clusterID] = CredentialsMapEntry(server_addresses: stored.serverAddresses, ca_cert_data: plain.caCertPEM,
                                                        user_token: plain.serviceAccountToken, cluster_domain: stored.clusterDomain)
        }
        return bcsSuccess(map)
    }

    private func open(_ stored: StoredCredentials) throws -> ClusterCredentials {
        do {
            return try CredentialCodec.open(stored, box: services.box)
        } catch {
            throw services.unreadableSecret("cluster_credentials/\(stored.clusterID)")
        }
    }
}
