@testable import BCSGateway
import Testing

/// The check every proxied path passes before it leaves for a cluster (both proxy paths use it).
@Suite("gateway: paths may not leave the cluster prefix")
struct PathEscapeTests {
    @Test(arguments: [
        "/..", "/../usermanager", "/api/../../x", "/.", "/api/./v1", "/api/..", "/%2e%2e/x", "/%2E%2e/x", "/api%2fx", "/api%2Fx",
        "/a%5cb", "/a%5Cb", "/a%25", "/a\\b", "/..\\x", "/api/v1/%2e",
    ])
    func escapesAreRefused(path: String) {
        #expect(KubeProxy.leavesPrefix(path), "\(path)")
    }

    @Test(arguments: [
        "/", "/api/v1/namespaces", "/api/v1/namespaces/a.b/pods", "/...", "/a..b", "/.hidden", "/api/v1/x%20y", "/a%2", "/a%", "//api",
        "/apis/apps/v1/namespaces/default/deployments/web", "/version",
    ])
    func ordinaryPathsPass(path: String) {
        #expect(!KubeProxy.leavesPrefix(path), "\(path)")
    }
}
