/// Decides whether a register token belongs to a cluster, for the tunnel handshake.
///
/// The co-hosted user-manager implements it with `AccessControl.verifyRegisterToken`; a gateway
/// running apart from user-manager can ask it over HTTP; tests use a fake.
public protocol RegisterTokenVerifier: Sendable {
    func verify(clusterID: String, token: String) async throws -> Bool
}
