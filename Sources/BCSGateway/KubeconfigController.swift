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

    func addRoutes(to router: Router<BCSRequestContext>) {
        for prefix in ["usermanager/v1", "bcsapi/v4/usermanager/v1"] {
            router.get("\(prefix)/clusters/{cluster_id}/kubeconfig") { request, context in try await kubeconfig(request, context) }
        }
    }

    func kubeconfig(_ request: Request, _ context: BCSRequestContext) async throws -> Response {
        guard let access else { throw BCSAPIError(.serviceUnavailable, code: 503, "this gateway cannot read the user-manager's data") }
        let clusterID = context.parameters.get("cluster_id") ?? ""
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
