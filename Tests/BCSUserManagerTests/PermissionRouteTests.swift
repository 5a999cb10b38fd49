import Foundation
import HTTPTypes
import Testing

@testable import BCSUserManager

@Suite("permissions: grant, query, revoke, verify")
struct PermissionRouteTests {
    /// Every decision the verifier makes, against one set of grants.
    @Test func verifyDecisions() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let viewer = try await api.userToken("plain", "viewer")
            let manager = try await api.userToken("plain", "manager")
            let wildcard = try await api.userToken("plain", "wild")
            let saas = try await api.userToken("saas", "svc")
            let nobody = try await api.userToken("plain", "nobody")
            let admin2 = try await api.userToken("admin", "admin2")
            for (user, type, resource, role) in [("viewer", "cluster", "C1", "viewer"), ("manager", "cluster", "C1", "manager"),
                                                  ("wild", "cluster", "*", "viewer"), ("svc", "storage", "C2", "manager"),
                                                  ("viewer", "mesos", "anything", "viewer")] {
                let reply = try await api.grant(user, type, resource, role)
                #expect(reply.status == 200 && reply.code == 0 && reply.dataIsNull, "\(reply)")
            }
            let cases: [(token: String, type: String, resource: String, action: String, allowed: Bool, message: String)] = [
                (UMHarness.adminToken, "cluster", "C9", "DELETE", true, "admin user"),
                (admin2, "storage", "X", "POST", true, "admin user"),
                (viewer, "cluster", "C1", "GET", true, ""),
                (viewer, "cluster", "C1", "POST", false, "no permission"),
                (viewer, "cluster", "C1", "get", false, "no permission"),
                (viewer, "cluster", "C2", "GET", false, "no permission"),
                (viewer, "storage", "C1", "GET", false, "no permission"),
                (manager, "cluster", "C1", "DELETE", true, ""),
                (manager, "cluster", "C1", "PATCH", true, ""),
                (manager, "cluster", "C1", "PUT", true, ""),
                (manager, "cluster", "C1", "CONNECT", false, "no permission"),
                (manager, "cluster", "C2", "GET", false, "no permission"),
                (wildcard, "cluster", "C1", "GET", true, ""),
                (wildcard, "cluster", "ANY-OTHER", "GET", true, ""),
                (wildcard, "cluster", "C1", "DELETE", false, "no permission"),
                (saas, "storage", "C2", "POST", true, ""),
                (saas, "storage", "C3", "POST", false, "no permission"),
                (saas, "cluster", "C2", "GET", false, "no permission"),
                (viewer, "mesos", "something-else", "GET", true, ""),
                (nobody, "cluster", "C1", "GET", false, "no permission"),
                ("unknownTokenunknownTokenunknownT", "cluster", "C1", "GET", false, "usertoken is invalid"),
            ]
            for (index, c) in cases.enumerated() {
                let result = try await api.verify(token: c.token, type: c.type, resource: c.resource, action: c.action)
                #expect(result.allowed == c.allowed && result.message == c.message, "case \(index) \(c.type)/\(c.resource) \(c.action): \(result)")
            }

            // Revocation takes effect at once.
            #expect(try await api.grant("viewer", "cluster", "C1", "viewer", method: .delete).code == 0)
            #expect(try await api.verify(token: viewer, type: "cluster", resource: "C1", action: "GET") == (false, "no permission"))
            #expect(try await api.verify(token: viewer, type: "mesos", resource: "x", action: "GET").allowed, "other grants stay")
            #expect(try await api.grant("wild", "cluster", "*", "viewer", method: .delete).code == 0)
            #expect(try await api.verify(token: wildcard, type: "cluster", resource: "C1", action: "GET").allowed == false)
            #expect(try await api.grant("nobody", "cluster", "C1", "viewer", method: .delete).code == 0, "revoking what was never granted is harmless")

            // An expired token is reported as such.
            try await h.services.users.updateExpiry(name: "manager", expiresAt: Date().addingTimeInterval(-5), updatedAt: Date())
            #expect(try await api.verify(token: manager, type: "cluster", resource: "C1", action: "GET") == (false, "usertoken is expired"))
        }
    }

    @Test func verifyReadsQueryParametersAndBodyAndNeedsItsFields() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let viewer = try await api.userToken("plain", "v")
            _ = try await api.grant("v", "cluster", "C1", "viewer")
            let byQuery = try await api.call(.get, "/usermanager/v1/permissions/verify?user_token=\(viewer)&resource_type=cluster&resource=C1&action=GET")
            #expect(byQuery.status == 200 && byQuery.data["allowed"] as? Bool == true, "\(byQuery)")
            let mixed = try await api.call(.get, "/usermanager/v1/permissions/verify?action=POST&resource=C1", json: #"{"user_token":"\#(viewer)","resource_type":"cluster","action":"GET"}"#)
            #expect(mixed.data["allowed"] as? Bool == true, "body fields win, query fills the rest: \(mixed)")
            for (name, query, field) in [("no token", "resource_type=cluster&action=GET", "user_token"), ("no type", "user_token=\(viewer)&action=GET", "resource_type"),
                                         ("no action", "user_token=\(viewer)&resource_type=cluster", "action")] {
                let reply = try await api.call(.get, "/usermanager/v1/permissions/verify?\(query)")
                #expect(reply.status == 400 && reply.code == 1405061 && reply.message.contains("field '\(field)' is required"), "\(name): \(reply)")
            }
            let badJSON = try await api.call(.get, "/usermanager/v1/permissions/verify", json: "{")
            #expect(badJSON.status == 400 && badJSON.message.contains("not valid JSON"))
            #expect(try await api.call(.get, "/usermanager/v1/permissions/verify?user_token=\(viewer)&resource_type=cluster&action=GET", token: viewer).status == 401, "verify is admin-only")
        }
    }

    @Test func queryReturnsGrantsOfOneTypeByBodyOrQuery() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            _ = try await api.userToken("plain", "alice")
            let grant = try await api.call(.post, "/usermanager/v1/permissions", json: PermissionJSON.object([
                ("alice", "cluster", "C1", "viewer"), ("alice", "cluster", "C2", "manager"), ("alice", "storage", "*", "viewer"),
            ]))
            #expect(grant.code == 0, "\(grant)")
            #expect(try await api.grant("alice", "cluster", "C1", "viewer").code == 0, "granting again is skipped, not an error")
            let body = try await api.call(.get, "/usermanager/v1/permissions", json: #"{"user_name":"alice","resource_type":"cluster"}"#)
            let pairs = body.dataList.map { "\($0["resource_type"] as? String ?? "")/\($0["resource"] as? String ?? "")/\($0["role"] as? String ?? "")" }
            #expect(pairs.sorted() == ["cluster/C1/viewer", "cluster/C2/manager"], "\(body)")
            let query = try await api.call(.get, "/usermanager/v1/permissions?user_name=alice&resource_type=storage")
            #expect(query.dataList.count == 1 && query.dataList.first?["resource"] as? String == "*")
            let none = try await api.call(.get, "/usermanager/v1/permissions?user_name=alice&resource_type=mesos")
            #expect(none.status == 200 && none.dataList.isEmpty && !none.dataIsNull, "an empty list, not null")
            #expect(try await api.call(.get, "/usermanager/v1/permissions?user_name=alice").message.contains("field 'resource_type' is required"))
            #expect(try await api.call(.get, "/usermanager/v1/permissions?resource_type=cluster").message.contains("field 'user_name' is required"))
            #expect(try await api.call(.get, "/usermanager/v1/permissions?user_name=ghost&resource_type=cluster").message.contains("user [ghost] not found"))
        }
    }

    static let badObjects: [(name: String, body: String, message: String)] = [
        ("wrong kind", PermissionJSON.object([("alice", "cluster", "C1", "viewer")], kind: "role"), "kind must be 'permission'"),
        ("wrong apiVersion", PermissionJSON.object([("alice", "cluster", "C1", "viewer")], apiVersion: "v2"), "apiVersion must be 'v1'"),
        ("no spec", #"{"apiVersion":"v1","kind":"permission","metadata":{"name":"x"}}"#, "field 'spec.permissions' is required"),
        ("empty list", PermissionJSON.object([]), "field 'spec.permissions' is required"),
        ("unknown user", PermissionJSON.object([("alice", "cluster", "C1", "viewer"), ("ghost", "cluster", "C1", "viewer")]), "spec.permissions[1]: user [ghost] not found"),
        ("unknown role", PermissionJSON.object([("alice", "cluster", "C1", "owner")]), "role [owner] not found"),
        ("empty resource_type", PermissionJSON.object([("alice", "", "C1", "viewer")]), "field 'spec.permissions[0].resource_type' is required"),
        ("empty user", PermissionJSON.object([("", "cluster", "C1", "viewer")]), "field 'spec.permissions[0].user_name' is required"),
        ("not JSON", "kind: permission", "not valid JSON"),
        ("list where object expected", #"{"apiVersion":"v1","kind":"permission","spec":{"permissions":{}}}"#, "has the wrong type"),
    ]

    @Test func badPermissionObjectsAreRefusedAndChangeNothing() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let alice = try await api.userToken("plain", "alice")
            for method in [HTTPRequest.Method.post, .delete] {
                if method == .delete { _ = try await api.grant("alice", "cluster", "C1", "viewer") }
                for bad in Self.badObjects {
                    let reply = try await api.call(method, "/usermanager/v1/permissions", json: bad.body)
                    #expect(reply.status == 400 && reply.code == 1405061 && reply.message.contains(bad.message), "\(method) \(bad.name): \(reply)")
                }
                let allowed = try await api.verify(token: alice, type: "cluster", resource: "C1", action: "GET").allowed
                #expect(allowed == (method == .delete), "\(method): the valid first entry was not applied alone")
            }
            #expect(try await api.grant("alice", "cluster", "C1", "viewer").code == 0)
            #expect(try await api.call(.post, "/usermanager/v1/permissions", token: alice, json: PermissionJSON.object([("alice", "cluster", "*", "manager")])).status == 401)
            #expect(try await api.verify(token: alice, type: "cluster", resource: "C1", action: "DELETE").allowed == false)
        }
    }
}
