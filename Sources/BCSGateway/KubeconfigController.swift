import BCSCore
import BCSUserManager
import Foundation
import Hummingbird

/// `GET /bcsapi/v4/usermanager/v1/clusters/{cluster_id}/kubeconfig`: a kubeconfig for the caller's
/// own token, pointing at the gateway's `/tunnels/clusters/{cluster_id}`.
///
/// Answered as YAML so `curl … > kubeconfig` is all a user does. The server URL is
/// `--kubeconfig-server` when set (a gateway behind a load balancer), otherwise the scheme and
/// `Host` the request arrived with; the CA is `--kubeconfig-ca-file`, else the gateway's own
/// `--tls-cert`. Refusals are BCS envelopes, as elsewhere under `/usermanager`.
struct KubeconfigController: Sendable {
    let access: AccessControl?
    let serverURL: String?
    let caPEM: String?
    let tls: Bool

    /// Registers `/usermanager/v1/…/kubeconfig`, which a co-hosted user-manager's prefix rewrite reaches.
    ///
    /// Without a co-hosted user-manager, `/bcsapi/v4/usermanager/…` belongs to `RoleForwarder`,
    /// which asks `answer` first (Hummingbird's router does not fall back from a deeper constant
    /// path to a shallower `**`, so the two cannot both be routes).
    func addRoutes(to router: Router<BCSRequestContext>) {
        router.get("usermanager/v1/clusters/{cluster_id}/kubeconfig") { request, context in
            try await kubeconfig(request, clusterID: context.parameters.get("cluster_id") ?? "")
        }
    }

    /// The kubeconfig when `request` is `GET /bcsapi/v4/usermanager/v1/clusters/{id}/kubeconfig`; nil otherwise.
    func answer(_ request: Request) async throws -> Response? {
        guard request.method == .get else { return nil }
        let parts = request.uri.path.split(separator: "/")
        guard parts.count == 7, parts[0] == "bcsapi", parts[1] == "v4", parts[2] == "usermanager", parts[3] == "v1", parts[4] == "clusters",
              parts[6] == "kubeconfig" else { return nil }
        return try await kubeconfig(request, clusterID: String(parts[5]))
    }

    func kubeconfig(_ request: Request, clusterID: String) async throws -> Response {
        guard let access else { throw BCSAPIError(.serviceUnavailable, code: 503, "this gateway cannot read the user-manager's data") }
        guard !clusterID.isEmpty, clusterID.utf8.count <= 128, clusterID.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw BCSAPIError(.badRequest, code: 400, "invalid cluster_id")
        }
        let token = request.bearerToken
        switch try await access.decide(token: token, resourceType: "cluster", resource: clusterID, action: "GET") {
        case .unauthenticated(let why): throw BCSAPIError(.unauthorized, code: 401, why)
        case .forbidden(let why): throw BCSAPIError(.forbidden, code: 403, why)
        case .allowed(let user, _):
            guard try await access.clusterExists(clusterID) else { throw BCSAPIError(.notFound, code: 404, "cluster \(clusterID) is not registered") }
            guard let token else { throw BCSAPIError(.unauthorized, code: 401, "no bearer token given") }
            let base = serverURL ?? request.head.authority.map { "\(tls ? "https" : "http")://\($0)" } ?? ""
            guard !base.isEmpty else { throw BCSAPIError(.badRequest, code: 400, "no Host header; set --kubeconfig-server") }
            let yaml = Self.render(server: base.trimmingSlash + "/tunnels/clusters/" + clusterID, clusterID: clusterID, user: user, token: token, caPEM: caPEM)
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: yaml)))
        }
    }

    static func render(server: String, clusterID: String, user: String, token: String, caPEM: String?) -> String {
        let ca = caPEM.map { "    certificate-authority-data: \(Data($0.utf8).base64EncodedString())\n" } ?? ""
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: \(clusterID)
              cluster:
                server: \(server)
            \(ca)users:
            - name: \(user)
              user:
                token: \(token)
            contexts:
            - name: \(clusterID)
              context:
                cluster: \(clusterID)
                user: \(user)
            current-context: \(clusterID)

            """
    }
}
