import BCSKube
import Foundation
import Testing

/// A class, so that each test's scratch directory is removed when the test ends (`deinit`).
@Suite final class KubeConnectionTests {
    let directory: String = {
        let path = NSTemporaryDirectory() + "bcs-kube-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    @Test func kubeconfigCurrentContextWithEmbeddedCAAndToken() throws {
        let ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: other
              cluster: {server: "https://other:1"}
            - name: sim
              cluster:
                server: https://127.0.0.1:6443/
                certificate-authority-data: \(Data(ca.utf8).base64EncodedString())
            users:
            - name: sim-admin
              user: {token: abc}
            contexts:
            - name: sim
              context: {cluster: sim, user: sim-admin, namespace: team-a}
            current-context: sim
            """
        let path = directory + "/kc"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let connection = try KubeConnection.load(kubeconfig: path, environment: [:])
        #expect(connection.server == "https://127.0.0.1:6443")
        #expect(connection.caPEM == ca)
        #expect(try connection.currentToken() == "abc")
        #expect(connection.namespace == "team-a")
    }

    @Test func inClusterRereadsTheTokenFile() throws {
        try "ca".write(toFile: directory + "/ca.crt", atomically: true, encoding: .utf8)
        try "first\n".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        let environment = ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "BCS_SERVICEACCOUNT_DIR": directory]
        let connection = try KubeConnection.load(kubeconfig: nil, environment: environment)
        #expect(connection.server == "https://10.0.0.1:443")
        #expect(try connection.currentToken() == "first")
        try "rotated".write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        #expect(try connection.currentToken() == "rotated")
    }

    @Test func missingLayoutsSayWhatIsWrong() throws {
        #expect(throws: KubeConnectionError.self) { try KubeConnection.load(kubeconfig: nil, environment: [:]) }
        #expect(throws: KubeConnectionError.self) { try KubeConnection.load(kubeconfig: directory + "/absent", environment: [:]) }
        let environment = ["KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1", "BCS_SERVICEACCOUNT_DIR": directory + "/none"]
        let error = try #require(throws: KubeConnectionError.self) { try KubeConnection.load(kubeconfig: nil, environment: environment) }
        #expect(error.description.contains("ca.crt"))
    }
}
