import BCSKube
import Logging
import Testing

@testable import BCSTunnel

/// What the report advertises as the apiserver's addresses.
@Suite struct CredentialReporterTests {
    func reporter(external: [String]) throws -> CredentialReporter {
        try CredentialReporter(settings: .init(
            gateway: try GatewayAddress(parsing: "https://gw:8443/ignored/path"), trust: GatewayTrust(), clusterID: "C", registerToken: "t",
            kube: KubeConnection(server: "https://10.96.0.1:443", caPEM: "x", token: .literal("sa")), externalAddresses: external
        ), logger: Logger(label: "test"))
    }

    @Test func theInClusterAddressUnlessExternalOnesAreGivenSortedAndSemicolonJoined() async throws {
        let plain = try reporter(external: [])
        #expect(plain.serverAddresses == "https://10.96.0.1:443")
        let external = try reporter(external: ["https://b.example:6443", "https://a.example:6443"])
        #expect(external.serverAddresses == "https://a.example:6443;https://b.example:6443")
        #expect(plain.settings.gateway.baseURL == "https://gw:8443", "BCS ignores the path of --bke-address")
        await plain.shutdown()
        await external.shutdown()
    }

    @Test func gatewayAddressesParse() throws {
        #expect(try GatewayAddress(parsing: "http://127.0.0.1:9000").authority == "127.0.0.1:9000")
        #expect(try GatewayAddress(parsing: "https://bcs-api-gateway.bcs-system").port == 443)
        #expect(throws: AgentError.self) { try GatewayAddress(parsing: "bcs-api-gateway:8443") }
    }
}
