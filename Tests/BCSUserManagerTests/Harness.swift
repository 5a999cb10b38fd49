import BCSCore
import BCSMongo
import BCSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

@testable import BCSUserManager

/// One MongoDB client for the whole test process (each test uses a database of its own).
enum TestMongo {
    static let client: Result<MongoClient, any Error> = Result {
        try MongoClient(uri: MongoURI(TestEnvironment.mongoURI()), threads: 4, logger: Logger(label: "test.mongo"))
    }

    static func freshDatabase() throws -> MongoDatabase {
        try client.get().database("um_\(UInt32.random(in: 0...UInt32.max))")
    }
}

/// The user-manager role on a fresh database, set up (indexes, roles, bootstrap admin) and routed.
struct UMHarness {
    static let adminName = "admin"
    static let adminToken = "AdminToken0123456789abcdefABCDEF"
    static let secret = "harness-secret-0123456789abcdef-0123456789"

    let role: UserManagerRole
    let database: MongoDatabase
    let context: RoleContext

    static func make(database: MongoDatabase? = nil, secret: String = secret, extra: [String: String] = [:], feed: CredentialFeed = CredentialFeed()) async throws -> UMHarness {
        let database = try database ?? TestMongo.freshDatabase()
        var flags = ["secret-key": secret, "bootstrap-admin": "\(adminName):\(adminToken)"]
        flags.merge(extra) { _, new in new }
        let context = RoleContext(mongo: database.client, database: database, settings: LayeredSettings(flags: flags, environment: [:]),
                                  logger: Logger(label: "test.usermanager"))
        let role = try UserManagerRole(context: context, feed: feed)
        try await role.setup.setUp()
        role.setupState.markReady()
        return UMHarness(role: role, database: database, context: context)
    }

    var services: UserManagerServices { role.services }

    /// Runs `body` against the role's routes (in process, no sockets).
    func run(_ body: @Sendable (API) async throws -> Void) async throws {
        let router = Router(context: BCSRequestContext.self)
        role.addRoutes(to: router)
        let app = Application(router: router)
        try await app.test(.router) { client in try await body(API(client: client)) }
    }

    /// Drops the test's database (best effort).
    func cleanUp() async { try? await database.drop() }
}

/// A response decoded as BCS's envelope.
struct Reply: CustomStringConvertible {
    let status: Int
    let body: String

    var object: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var code: Int? { object["code"] as? Int }
    var result: Bool? { object["result"] as? Bool }
    var message: String { object["message"] as? String ?? "" }
    var data: [String: Any] { object["data"] as? [String: Any] ?? [:] }
    var dataList: [[String: Any]] { object["data"] as? [[String: Any]] ?? [] }
    var dataIsNull: Bool { object["data"] is NSNull }
    var description: String { "\(status) \(body)" }
}

/// A thin HTTP client for the role's routes.
struct API: Sendable {
    let client: any TestClientProtocol

    func call(_ method: HTTPRequest.Method, _ path: String, token: String? = UMHarness.adminToken, json: String? = nil,
              headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        return Reply(status: Int(response.status.code), body: String(buffer: response.body))
    }

    func createUser(_ type: String, _ name: String, token: String? = UMHarness.adminToken) async throws -> Reply {
        try await call(.post, "/usermanager/v1/users/\(type)/\(name)", token: token)
    }

    /// Creates a user and returns its token.
    func userToken(_ type: String, _ name: String) async throws -> String {
        let reply = try await createUser(type, name)
        guard let token = reply.data["user_token"] as? String else { throw HarnessFailure("creating \(type) user \(name): \(reply)") }
        return token
    }

    func createCluster(_ id: String, type: String = "k8s") async throws -> Reply {
        try await call(.post, "/usermanager/v1/clusters", json: #"{"cluster_id":"\#(id)","cluster_type":"\#(type)"}"#)
    }

    /// Registers a cluster and returns its new register token.
    func registerCluster(_ id: String) async throws -> String {
        let created = try await createCluster(id)
        guard created.code == 0 else { throw HarnessFailure("creating cluster \(id): \(created)") }
        let reply = try await call(.post, "/usermanager/v1/clusters/\(id)/register_tokens")
        guard let token = reply.data["token"] as? String else { throw HarnessFailure("register token for \(id): \(reply)") }
        return token
    }

    func report(_ id: String, token: String, addresses: String = "https://10.0.0.1:6443", ca: String = TestPEM.ca, saToken: String = "sa-token-1") async throws -> Reply {
        let body = try JSONSerialization.data(withJSONObject: ["register_token": token, "server_addresses": addresses, "cacert_data": ca, "user_token": saToken])
        return try await call(.put, "/usermanager/v1/clusters/\(id)/credentials", token: nil, json: String(decoding: body, as: UTF8.self))
    }

    func grant(_ user: String, _ type: String, _ resource: String, _ role: String, method: HTTPRequest.Method = .post) async throws -> Reply {
        try await call(method, "/usermanager/v1/permissions", json: PermissionJSON.object([(user, type, resource, role)]))
    }

    func verify(token: String, type: String, resource: String, action: String) async throws -> (allowed: Bool, message: String) {
        let body = try JSONSerialization.data(withJSONObject: ["user_token": token, "resource_type": type, "resource": resource, "action": action])
        let reply = try await call(.get, "/usermanager/v1/permissions/verify", json: String(decoding: body, as: UTF8.self))
        guard reply.status == 200, reply.code == 0, let allowed = reply.data["allowed"] as? Bool else { throw HarnessFailure("verify: \(reply)") }
        return (allowed, reply.data["message"] as? String ?? "")
    }
}

enum PermissionJSON {
    static func object(_ entries: [(String, String, String, String)], kind: String = "permission", apiVersion: String = "v1") -> String {
        let list = entries.map { ["user_name": $0.0, "resource_type": $0.1, "resource": $0.2, "role": $0.3] }
        let object: [String: Any] = ["apiVersion": apiVersion, "kind": kind, "metadata": ["name": "test"], "spec": ["permissions": list]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum TestPEM {
    /// A syntactically PEM certificate (content is not parsed by the user-manager).
    static let ca = """
        -----BEGIN CERTIFICATE-----
        MIIBdzCCAR2gAwIBAgIUTESTCAforBCSinSwiftUserManagerXXXXXXwCgYIKoZIzj0EAwIw
        -----END CERTIFICATE-----

        """
    static let otherCA = ca.replacingOccurrences(of: "TESTCA", with: "OTHERCA")
}
