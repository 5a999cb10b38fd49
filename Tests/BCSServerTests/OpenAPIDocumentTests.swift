import BCSCore
import BCSServer
import BCSTestSupport
import AsyncHTTPClient
import NIOHTTP1
import Foundation
import Logging
import Testing
import Yams

/// Docs/openapi.yaml describes the user-manager and storage REST APIs exactly: every route the
/// server has is documented, every documented route exists and answers on a running server.
@Suite("OpenAPI description", .serialized)
struct OpenAPIDocumentTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let admin = "OpenAPIAdminToken0123456789abcdefXY"

    static func documented() throws -> [String: [String: Any]] {
        let text = try String(contentsOfFile: repository + "/Docs/openapi.yaml", encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect((root["openapi"] as? String)?.hasPrefix("3.") == true)
        let paths = try #require(root["paths"] as? [String: Any])
        var operations: [String: [String: Any]] = [:]
        for (path, item) in paths {
            for (method, operation) in item as? [String: Any] ?? [:] where ["get", "put", "post", "delete", "patch"].contains(method) {
                operations["\(method.uppercased()) \(path)"] = operation as? [String: Any] ?? [:]
            }
        }
        return operations
    }

    @Test func everyServedRouteIsDocumentedAndViceVersa() async throws {
        let configuration = try ServeConfiguration.resolve(LayeredSettings(flags: [
            "roles": "usermanager,storage", "mongodb-uri": try TestEnvironment.mongoURI(), "secret-key": "test-secret-0123456789abcdef0123456789abcdef",
        ], environment: [:]))
        let all = try await ServeProcess(configuration: configuration, logger: Logger(label: "test")).routeList()
        #expect(all.count > 30, "\(all)")
        let served = Set(all
            .filter { ($0.contains(" /usermanager/") || $0.contains(" /bcsstorage/")) && !$0.hasSuffix("**") && !$0.hasPrefix("HEAD ") })
        let documented = Set(try Self.documented().keys)
        #expect(served.subtracting(documented).sorted() == [], "served but not documented")
        #expect(documented.subtracting(served).sorted() == [], "documented but not served")
    }

    /// Each documented operation, called with sample parameters on a running server, is answered by
    /// its route (an envelope that is not the unknown-path 404).
    @Test func everyDocumentedRouteAnswers() async throws {
        let serve = try await RunningServe.start(flags: [
            "roles": "usermanager,storage", "database": TestEnvironment.uniqueName("openapi"), "bootstrap-admin": "admin:\(Self.admin)",
        ])
        let samples = ["user_type": "plain", "user_name": "openapi-user", "expire_time": "1", "cluster_id": "OPENAPI-1",
                       "clusterId": "OPENAPI-1", "namespace": "default", "resourceType": "Pod", "resourceName": "p1"]
        var answered = 0
        for key in try Self.documented().keys.sorted() {
            let parts = key.split(separator: " ", maxSplits: 1)
            var path = String(parts[1])
            for (name, value) in samples { path = path.replacingOccurrences(of: "{\(name)}", with: value) }
            #expect(!path.contains("{"), "\(key): no sample for a parameter")
            let method = HTTPMethod(rawValue: String(parts[0]))
            var result: HTTPResult?
            try await eventually(within: .seconds(20)) {
                let body: Any? = (method == .PUT || method == .POST) ? "{}" : nil
                result = try await serve.send(method, path, body: body, token: Self.admin)
                return result?.status != 503
            }
            let answer = try #require(result)
            #expect(answer.code != nil, "\(key): not an envelope: \(answer.status) \(answer.body)")
            #expect(!answer.message.hasPrefix("no such route"), "\(key): \(answer.message)")
            answered += 1
        }
        #expect(answered >= 30)
        _ = await serve.stop()
    }
}
