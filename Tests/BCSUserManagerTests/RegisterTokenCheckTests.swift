import Hummingbird
import Testing

@testable import BCSUserManager

/// The co-hosted gateway's register-token check for tunnel handshakes.
@Suite struct RegisterTokenCheckTests {
    @Test func onlyTheClustersCurrentRegisterTokenIsAccepted() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        let access = h.role.accessControl
        try await h.run { api in
            let token = try await api.registerCluster("C1")
            _ = try await api.createCluster("C2")
            #expect(try await access.verifyRegisterToken(clusterID: "C1", token: token))
            #expect(try await !access.verifyRegisterToken(clusterID: "C1", token: token + "x"), "a different token")
            #expect(try await !access.verifyRegisterToken(clusterID: "C2", token: token), "another cluster's token")
            #expect(try await !access.verifyRegisterToken(clusterID: "C3", token: token), "an unknown cluster")
            #expect(try await !access.verifyRegisterToken(clusterID: "C1", token: ""), "an empty token")
        }
    }
}
