import BCSTunnel
import BCSUserManager

/// An agent's register token checked against the user-manager's data, for the tunnel handshake.
struct RegisterTokenCheck: RegisterTokenVerifier {
    let access: AccessControl?

    func verify(clusterID: String, token: String) async throws -> Bool {
        guard let access else { return false }
        return try await access.verifyRegisterToken(clusterID: clusterID, token: token)
    }
}
