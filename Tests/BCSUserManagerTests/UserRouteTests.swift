import Foundation
import HTTPTypes
import Testing

@testable import BCSUserManager

@Suite("users: create, get, refresh, authentication, expiry")
struct UserRouteTests {
    @Test func createAndGetEveryUserType() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            for (type, number) in [("admin", 1), ("saas", 2), ("plain", 3)] {
                let created = try await api.createUser(type, "u-\(type)")
                #expect(created.status == 200 && created.code == 0 && created.result == true && created.message == "success", "\(created)")
                let data = created.data
                #expect(data["name"] as? String == "u-\(type)")
                #expect(data["user_type"] as? Int == number)
                let token = try #require(data["user_token"] as? String)
                #expect(token.count == 32 && token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
                #expect((data["id"] as? Int ?? 0) > 0)
                let created_at = try #require(data["created_at"] as? String)
                let expires = try #require(data["expires_at"] as? String)
                let lifetime = try #require(ISO8601DateFormatter.fractional.date(from: expires)).timeIntervalSince(try #require(ISO8601DateFormatter.fractional.date(from: created_at)))
                if type == "plain" { #expect(abs(lifetime - 86_400) < 2, "plain tokens live 24 h") } else { #expect(lifetime > 3_600 * 24 * 3_600, "admin/saas: ten years") }

                let got = try await api.call(.get, "/usermanager/v1/users/\(type)/u-\(type)")
                #expect(got.status == 200 && got.data["user_token"] as? String == token, "GET returns the token again: \(got)")
                #expect(got.data["id"] as? Int == data["id"] as? Int)
            }
        }
    }

    @Test func duplicatesMissingUsersAndBadTypes() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            _ = try await api.createUser("plain", "dup")
            let again = try await api.createUser("plain", "dup")
            #expect(again.status == 400 && again.code == 1405061 && again.message.contains("user [dup] already exist"), "\(again)")
            let otherType = try await api.createUser("saas", "dup")
            #expect(otherType.status == 500 && otherType.code == 1405062, "BCS: a name is unique across types (DB error): \(otherType)")
            let missing = try await api.call(.get, "/usermanager/v1/users/plain/nobody")
            #expect(missing.status == 404 && missing.code == 1405061 && missing.message.contains("user [nobody] not found"), "\(missing)")
            let wrongType = try await api.call(.get, "/usermanager/v1/users/saas/dup")
            #expect(wrongType.status == 404 && wrongType.code == 1405061)
            let badType = try await api.createUser("root", "x")
            #expect(badType.status == 400 && badType.code == 1405061 && badType.message.contains("unknown user type 'root'"), "\(badType)")
            let badName = try await api.createUser("plain", "a%20b")
            #expect(badName.status == 400 && badName.code == 1405061, "\(badName)")
            let longName = try await api.createUser("plain", String(repeating: "n", count: 65))
            #expect(longName.status == 400)
            let listed = try await api.call(.get, "/usermanager/v1/users/plain/x%20y")
            #expect(listed.status == 400)
        }
    }

    /// Who may call which user route: admin for admin/saas users, admin or saas for plain users.
    @Test func authenticationMatrix() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let saas = try await api.userToken("saas", "svc")
            let plain = try await api.userToken("plain", "joe")
            let cases: [(caller: String?, type: String, allowed: Bool)] = [
                (UMHarness.adminToken, "admin", true), (UMHarness.adminToken, "saas", true), (UMHarness.adminToken, "plain", true),
                (saas, "admin", false), (saas, "saas", false), (saas, "plain", true),
                (plain, "admin", false), (plain, "saas", false), (plain, "plain", false),
                (nil, "plain", false), ("unknownTokenunknownTokenunknownT", "plain", false),
            ]
            for (index, c) in cases.enumerated() {
                let reply = try await api.createUser(c.type, "m\(index)", token: c.caller)
                if c.allowed {
                    #expect(reply.status == 200 && reply.code == 0, "case \(index): \(reply)")
                } else {
                    #expect(reply.status == 401 && reply.code == 1405059 && reply.result == false, "case \(index): \(reply)")
                    #expect(try await api.call(.get, "/usermanager/v1/users/\(c.type)/m\(index)").status == 404, "case \(index): refused calls change nothing")
                }
            }
            let anonymous = try await api.createUser("plain", "anon", token: nil)
            #expect(anonymous.message == "errcode：1405059,  anonymous requests is forbidden, please provide a valid token", "BCS's exact text")
            for header in ["Basic YWRtaW46eA==", "bearer \(UMHarness.adminToken)", "Bearer  \(UMHarness.adminToken)", "Bearer", "\(UMHarness.adminToken)", "Bearer \(UMHarness.adminToken) x"] {
                let reply = try await api.call(.post, "/usermanager/v1/users/plain/h", token: nil, headers: [.authorization: header])
                #expect(reply.status == 401, "Authorization: \(header)")
            }
        }
    }

    @Test func saasRefreshIssuesANewTokenAndTheOldOneStopsWorking() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let old = try await api.userToken("saas", "svc")
            #expect(try await api.createUser("plain", "p1", token: old).status == 200)
            let refreshed = try await api.call(.put, "/usermanager/v1/users/saas/svc/refresh")
            let new = try #require(refreshed.data["user_token"] as? String, "\(refreshed)")
            #expect(new != old && new.count == 32)
            #expect(try await api.createUser("plain", "p2", token: old).status == 401, "old token refused at once")
            #expect(try await api.createUser("plain", "p3", token: new).status == 200)
            #expect(try await api.call(.get, "/usermanager/v1/users/saas/svc").data["user_token"] as? String == new)
            #expect(try await api.call(.put, "/usermanager/v1/users/saas/nobody/refresh").status == 404)
            #expect(try await api.call(.put, "/usermanager/v1/users/plain/p2/refresh").status == 400)
            #expect(try await api.call(.put, "/usermanager/v1/users/saas/svc/refresh", token: new).status == 401, "saas users cannot refresh saas users")
        }
    }

    @Test func plainRefreshExtendsALiveTokenAndReplacesAnExpiredOne() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let token = try await api.userToken("plain", "joe")
            let extended = try await api.call(.put, "/usermanager/v1/users/plain/joe/refresh/30")
            #expect(extended.status == 200 && extended.data["user_token"] as? String == token, "a live token is kept: \(extended)")
            let expires = try #require(ISO8601DateFormatter.fractional.date(from: extended.data["expires_at"] as? String ?? ""))
            #expect(abs(expires.timeIntervalSinceNow - 30 * 86_400) < 5)

            // Expire it, then refresh: a new token.
            try await h.services.users.updateExpiry(name: "joe", expiresAt: Date().addingTimeInterval(-1), updatedAt: Date())
            #expect(try await api.verify(token: token, type: "cluster", resource: "c", action: "GET") == (false, "usertoken is expired"))
            let renewed = try await api.call(.put, "/usermanager/v1/users/plain/joe/refresh/1")
            let newToken = try #require(renewed.data["user_token"] as? String)
            #expect(newToken != token)
            #expect(try await api.verify(token: token, type: "cluster", resource: "c", action: "GET").message == "usertoken is invalid")
            #expect(try await api.verify(token: newToken, type: "cluster", resource: "c", action: "GET").message == "no permission")

            for bad in ["-1", "1.5", "abc", "36501", "9999999999999999999999"] {
                let reply = try await api.call(.put, "/usermanager/v1/users/plain/joe/refresh/\(bad)")
                #expect(reply.status == 400 && reply.code == 1405061 && reply.message.contains("expire_time"), "\(bad): \(reply)")
            }
            #expect(try await api.call(.get, "/usermanager/v1/users/plain/joe").data["user_token"] as? String == newToken, "bad refreshes changed nothing")
            let zero = try await api.call(.put, "/usermanager/v1/users/plain/joe/refresh/0")
            #expect(zero.status == 200, "0 days is allowed, as in BCS")
            #expect(try await api.call(.put, "/usermanager/v1/users/saas/joe/refresh/3").status == 400)
            #expect(try await api.call(.put, "/usermanager/v1/users/plain/nobody/refresh/3").status == 404)
        }
    }

    @Test func anExpiredTokenIsRefusedByEveryRoute() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let saas = try await api.userToken("saas", "svc")
            #expect(try await api.createUser("plain", "before", token: saas).status == 200)
            try await h.services.users.updateExpiry(name: "svc", expiresAt: Date().addingTimeInterval(-1), updatedAt: Date())
            let reply = try await api.createUser("plain", "after", token: saas)
            #expect(reply.status == 401 && reply.code == 1405059)
            #expect(try await api.call(.get, "/usermanager/v1/users/plain/before", token: saas).status == 401)
        }
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let fractional: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}
