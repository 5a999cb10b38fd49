import Foundation
import HTTPTypes
import Testing

@testable import BCSUserManager

@Suite("credentials: agent reports and reads")
struct CredentialRouteTests {
    @Test func reportIsStoredReadBackAndPublished() async throws {
        let feed = CredentialFeed()
        let changes = feed.subscribe()
        let h = try await UMHarness.make(feed: feed)
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let token = try await api.registerCluster("BCS-K8S-001")
            let reply = try await api.report("BCS-K8S-001", token: token, addresses: "https://10.0.0.1:6443;https://10.0.0.2:6443", saToken: "eyJhbGciOiJSUzI1NiJ9.sa")
            #expect(reply.status == 200 && reply.code == 0 && reply.dataIsNull, "\(reply)")

            let one = try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001/credentials")
            #expect(one.status == 200 && one.code == 0, "\(one)")
            #expect(one.data["cluster_id"] as? String == "BCS-K8S-001")
            #expect(one.data["server_addresses"] as? String == "https://10.0.0.1:6443;https://10.0.0.2:6443")
            #expect(one.data["ca_cert_data"] as? String == TestPEM.ca)
            #expect(one.data["user_token"] as? String == "eyJhbGciOiJSUzI1NiJ9.sa")
            #expect(one.data["cluster_domain"] as? String == "")
            #expect((one.data["id"] as? Int ?? 0) > 0 && one.data["created_at"] is String && one.data["updated_at"] is String)
            #expect(one.data["cacert_data"] == nil, "output key is ca_cert_data")

            let all = try await api.call(.get, "/usermanager/v1/clusters/credentials")
            let entry = try #require(all.data["BCS-K8S-001"] as? [String: Any], "\(all)")
            #expect(entry["ca_cert_data"] as? String == TestPEM.ca && entry["user_token"] as? String == "eyJhbGciOiJSUzI1NiJ9.sa")
            #expect(Set(entry.keys) == ["server_addresses", "ca_cert_data", "user_token", "cluster_domain"])

            // A second report replaces the first (upsert by cluster).
            #expect(try await api.report("BCS-K8S-001", token: token, addresses: "https://10.9.9.9:443", ca: TestPEM.otherCA, saToken: "sa-2").code == 0)
            let after = try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001/credentials")
            #expect(after.data["server_addresses"] as? String == "https://10.9.9.9:443" && after.data["user_token"] as? String == "sa-2")
            #expect(after.data["id"] as? Int == one.data["id"] as? Int)
        }
        var iterator = changes.makeAsyncIterator()
        let first = await iterator.next()
        guard case .updated(let c1) = first else { Issue.record("expected an update, got \(String(describing: first))"); return }
        #expect(c1.clusterID == "BCS-K8S-001" && c1.serverAddresses == ["https://10.0.0.1:6443", "https://10.0.0.2:6443"])
        #expect(c1.serviceAccountToken == "eyJhbGciOiJSUzI1NiJ9.sa" && c1.caCertPEM == TestPEM.ca)
        #expect(!c1.description.contains("eyJhbGciOiJSUzI1NiJ9.sa"), "the description redacts the token")
        guard case .updated(let c2) = await iterator.next() else { Issue.record("expected the second report"); return }
        #expect(c2.serverAddresses == ["https://10.9.9.9:443"] && c2.serviceAccountToken == "sa-2" && c2.caCertPEM == TestPEM.otherCA)
    }

    static let badReports: [(name: String, body: String, message: String, status: Int)] = {
        let ca = TestPEM.ca.replacingOccurrences(of: "\n", with: "\\n")
        func body(token: String = "TOKEN", addresses: String = "https://10.0.0.1:6443", ca: String = ca, user: String = "sa") -> String {
            #"{"register_token":"\#(token)","server_addresses":"\#(addresses)","cacert_data":"\#(ca)","user_token":"\#(user)"}"#
        }
        return [
            ("empty body", "", "not valid JSON", 400),
            ("not JSON", "register_token=x", "not valid JSON", 400),
            ("JSON array", "[]", "has the wrong type", 400),
            ("no register_token", #"{"server_addresses":"https://a:1","cacert_data":"\#(ca)","user_token":"sa"}"#, "field 'register_token' is required", 400),
            ("empty register_token", body(token: ""), "field 'register_token' is required", 400),
            ("no server_addresses", #"{"register_token":"TOKEN","cacert_data":"\#(ca)","user_token":"sa"}"#, "field 'server_addresses' is required", 400),
            ("no cacert_data", #"{"register_token":"TOKEN","server_addresses":"https://a:1","user_token":"sa"}"#, "field 'cacert_data' is required", 400),
            ("ca_cert_data instead of cacert_data", #"{"register_token":"TOKEN","server_addresses":"https://a:1","ca_cert_data":"\#(ca)","user_token":"sa"}"#, "field 'cacert_data' is required", 400),
            ("no user_token", #"{"register_token":"TOKEN","server_addresses":"https://a:1","cacert_data":"\#(ca)"}"#, "field 'user_token' is required", 400),
            ("user_token a number", #"{"register_token":"TOKEN","server_addresses":"https://a:1","cacert_data":"\#(ca)","user_token":5}"#, "field 'user_token' has the wrong type", 400),
            ("http address", body(addresses: "http://10.0.0.1:6443"), "is not an https URL", 400),
            ("one bad address of two", body(addresses: "https://10.0.0.1:6443;10.0.0.2:6443"), "'10.0.0.2:6443' is not an https URL", 400),
            ("comma-separated", body(addresses: "https://10.0.0.1:6443,https://10.0.0.2:6443"), "is not an https URL", 400),
            ("empty item", body(addresses: "https://10.0.0.1:6443;"), "has an empty item", 400),
            ("no host", body(addresses: "https://:6443"), "is not an https URL", 400),
            ("credentials in URL", body(addresses: "https://u:p@10.0.0.1:6443"), "is not an https URL", 400),
            ("bad port", body(addresses: "https://10.0.0.1:99999"), "has an invalid port", 400),
            ("CA not PEM", body(ca: "not a certificate"), "must be a PEM certificate", 400),
            ("huge user_token", body(user: String(repeating: "t", count: 9000)), "field 'user_token' is too long", 400),
            ("oversized body", body(user: String(repeating: "t", count: 70_000)), "over the 65536-byte limit", 413),
            ("wrong register token", body(token: String(repeating: "A", count: 128)), "invalid register token given", 400),
        ]
    }()

    @Test func badReportsAreRefusedWithBCSStatusAndChangeNothing() async throws {
        let feed = CredentialFeed()
        let h = try await UMHarness.make(feed: feed)
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let token = try await api.registerCluster("C1")
            #expect(try await api.report("C1", token: token, saToken: "good").code == 0)
            let before = try await api.call(.get, "/usermanager/v1/clusters/C1/credentials").body
            let changes = feed.subscribe()
            for bad in Self.badReports {
                let reply = try await api.call(.put, "/usermanager/v1/clusters/C1/credentials", token: nil, json: bad.body.replacingOccurrences(of: "\"TOKEN\"", with: "\"\(token)\""))
                #expect(reply.status == bad.status && reply.code == 1405061 && reply.result == false, "\(bad.name): \(reply)")
                #expect(reply.message.contains(bad.message), "\(bad.name): \(reply.message)")
            }
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/credentials").body == before, "nothing changed")
            _ = try await api.report("C1", token: token, saToken: "sentinel")
            var iterator = changes.makeAsyncIterator()
            guard case .updated(let next) = await iterator.next() else { Issue.record("no update"); return }
            #expect(next.serviceAccountToken == "sentinel", "no refused report reached the feed")
        }
    }

    @Test func reportsForUnknownClustersAndBadPaths() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let token = try await api.registerCluster("C1")
            _ = try await api.createCluster("C2")
            let noToken = try await api.report("C2", token: token)
            #expect(noToken.status == 400 && noToken.message.contains("no valid register token found for cluster"), "\(noToken)")
            let unknown = try await api.report("C3", token: token)
            #expect(unknown.status == 400 && unknown.message.contains("no valid register token found for cluster"))
            _ = try await api.call(.post, "/usermanager/v1/clusters/C2/register_tokens")
            #expect(try await api.report("C2", token: token).message.contains("invalid register token given"), "C1's token does not work for C2")
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C2/credentials").message.contains("credentials not found"))
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/credentials").status == 400, "token issued, nothing reported")
            #expect(try await api.call(.get, "/usermanager/v1/clusters/credentials").data.isEmpty)
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/credentials", token: nil).status == 401)
            #expect(try await api.report("C1", token: token).code == 0, "reports need no bearer token")
        }
    }

    /// A crash between storing a register token and arming it must not leave the cluster unable to report.
    @Test func aTokenThatWasNeverArmedIsRepairedOnFirstReport() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            _ = try await api.createCluster("C1")
            let token = TokenGenerator.registerToken()
            try await h.services.clusters.insertRegisterToken(RegisterTokenRecord(
                id: 99, clusterID: "C1", tokenKey: h.role.box.lookupKey(token, purpose: .registerToken),
                sealedToken: try h.role.box.seal(token, context: RegisterTokenRecord.sealContext(clusterID: "C1")), createdAt: Date()))
            #expect(try await api.report("C1", token: String(repeating: "x", count: 128)).message.contains("invalid register token given"))
            #expect(try await api.report("C1", token: token).code == 0)
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/credentials").code == 0)
        }
    }
}
