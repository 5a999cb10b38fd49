import Foundation
import HTTPTypes
import Testing

@testable import BCSUserManager

@Suite("clusters and register tokens")
struct ClusterRouteTests {
    @Test func registerListGetAndDeleteClusters() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let created = try await api.createCluster("BCS-K8S-001")
            #expect(created.status == 200 && created.code == 0 && created.data["id"] as? String == "BCS-K8S-001" && created.data["cluster_type"] as? Int == 1, "\(created)")
            #expect(created.data["creator_id"] as? Int == 1, "the bootstrap admin is user 1")
            #expect(created.data["tke_cluster_id"] as? String == "" && created.data["created_at"] is String)
            let mesos = try await api.createCluster("BCS-MESOS-1", type: "mesos")
            #expect(mesos.data["cluster_type"] as? Int == 2)
            let tke = try await api.call(.post, "/usermanager/v1/clusters", json: #"{"cluster_id":"BCS-TKE-1","cluster_type":"tke","tke_cluster_id":"cls-1","tke_cluster_region":"ap-guangzhou"}"#)
            #expect(tke.data["cluster_type"] as? Int == 3 && tke.data["tke_cluster_region"] as? String == "ap-guangzhou", "\(tke)")

            let token = try #require(try await api.call(.post, "/usermanager/v1/clusters/BCS-K8S-001/register_tokens").data["token"] as? String)
            #expect(try await api.report("BCS-K8S-001", token: token).code == 0)

            let list = try await api.call(.get, "/usermanager/v1/clusters")
            #expect(list.status == 200 && list.dataList.map { $0["id"] as? String } == ["BCS-K8S-001", "BCS-MESOS-1", "BCS-TKE-1"], "\(list)")
            #expect(list.dataList[0]["last_credentials_report_at"] is String, "reported")
            #expect(list.dataList[1]["last_credentials_report_at"] is NSNull, "never reported")

            let one = try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001")
            #expect(one.status == 200 && one.data["cluster_type"] as? Int == 1 && one.data["last_credentials_report_at"] is String, "\(one)")
            let missing = try await api.call(.get, "/usermanager/v1/clusters/NOPE")
            #expect(missing.status == 404 && missing.code == 1405060, "\(missing)")

            let duplicate = try await api.createCluster("BCS-K8S-001")
            #expect(duplicate.status == 400 && duplicate.code == 1405061 && duplicate.message.contains("already exist"))

            // Deleting removes the token, the credentials and the cluster's grants.
            _ = try await api.userToken("plain", "viewer1")
            #expect(try await api.grant("viewer1", "cluster", "BCS-K8S-001", "viewer").code == 0)
            let deleted = try await api.call(.delete, "/usermanager/v1/clusters/BCS-K8S-001")
            #expect(deleted.status == 200 && deleted.code == 0 && deleted.dataIsNull, "\(deleted)")
            #expect(try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001").status == 404)
            #expect(try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001/register_tokens").message.contains("register token not found"))
            #expect(try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001/credentials").message.contains("credentials not found"))
            #expect(try await api.call(.get, "/usermanager/v1/clusters/credentials").data.isEmpty)
            #expect(try await api.call(.get, "/usermanager/v1/permissions?user_name=viewer1&resource_type=cluster").dataList.isEmpty)
            let refused = try await api.report("BCS-K8S-001", token: token)
            #expect(refused.status == 400 && refused.message.contains("no valid register token found for cluster"), "\(refused)")
            #expect(try await api.call(.delete, "/usermanager/v1/clusters/BCS-K8S-001").status == 404)

            // The same ID can be registered again and starts clean.
            let again = try await api.registerCluster("BCS-K8S-001")
            #expect(try await api.call(.get, "/usermanager/v1/clusters/BCS-K8S-001/credentials").status == 400, "no old credentials resurface")
            #expect(try await api.report("BCS-K8S-001", token: token).status == 400, "the old token stays dead")
            #expect(try await api.report("BCS-K8S-001", token: again).code == 0)
        }
    }

    static let badClusterBodies: [(name: String, body: String, message: String, status: Int)] = [
        ("empty body", "", "request body is not valid JSON", 400),
        ("not JSON", "cluster_id=BCS-1", "not valid JSON", 400),
        ("no cluster_id", #"{"cluster_type":"k8s"}"#, "field 'cluster_id' is required", 400),
        ("empty cluster_id", #"{"cluster_id":"","cluster_type":"k8s"}"#, "field 'cluster_id' is required", 400),
        ("cluster_id with a slash", #"{"cluster_id":"a/b","cluster_type":"k8s"}"#, "cluster_id 'a/b' is invalid", 400),
        ("cluster_id too long", #"{"cluster_id":"\#(String(repeating: "c", count: 65))","cluster_type":"k8s"}"#, "is invalid", 400),
        ("no cluster_type", #"{"cluster_id":"BCS-1"}"#, "field 'cluster_type' is required", 400),
        ("unknown cluster_type", #"{"cluster_id":"BCS-1","cluster_type":"k3s"}"#, "must be one of k8s, mesos, tke", 400),
        ("cluster_type a number", #"{"cluster_id":"BCS-1","cluster_type":1}"#, "field 'cluster_type' has the wrong type", 400),
        ("tke without its fields", #"{"cluster_id":"BCS-1","cluster_type":"tke"}"#, "field 'tke_cluster_id' is required", 400),
        ("tke without region", #"{"cluster_id":"BCS-1","cluster_type":"tke","tke_cluster_id":"x"}"#, "field 'tke_cluster_region' is required", 400),
        ("oversized body", #"{"cluster_id":"BCS-1","cluster_type":"k8s","pad":"\#(String(repeating: "x", count: 70_000))"}"#, "over the 65536-byte limit", 413),
    ]

    @Test func badClusterBodiesAreRefusedAndChangeNothing() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            for bad in Self.badClusterBodies {
                let reply = try await api.call(.post, "/usermanager/v1/clusters", json: bad.body)
                #expect(reply.status == bad.status && reply.code == 1405061 && reply.result == false, "\(bad.name): \(reply)")
                #expect(reply.message.contains(bad.message), "\(bad.name): \(reply.message)")
            }
            #expect(try await api.call(.get, "/usermanager/v1/clusters").dataList.isEmpty, "nothing was registered")
            #expect(try await api.call(.post, "/usermanager/v1/clusters", token: nil, json: #"{"cluster_id":"BCS-1","cluster_type":"k8s"}"#).status == 401)
            let plain = try await api.userToken("plain", "p")
            #expect(try await api.call(.post, "/usermanager/v1/clusters", token: plain, json: #"{"cluster_id":"BCS-1","cluster_type":"k8s"}"#).status == 401)
            let saas = try await api.userToken("saas", "s")
            for (method, path) in [(HTTPRequest.Method.get, "clusters"), (.get, "clusters/BCS-1"), (.delete, "clusters/BCS-1"),
                                   (.post, "clusters/BCS-1/register_tokens"), (.get, "clusters/BCS-1/register_tokens"),
                                   (.put, "clusters/BCS-1/register_tokens/rotate"), (.get, "clusters/BCS-1/credentials"), (.get, "clusters/credentials")] {
                #expect(try await api.call(method, "/usermanager/v1/\(path)", token: saas).status == 401, "\(method) \(path) is admin-only")
            }
            #expect(try await api.call(.get, "/usermanager/v1/clusters").dataList.isEmpty)
            let unknown = try await api.call(.get, "/usermanager/v1/clustres")
            #expect(unknown.status == 404 && unknown.code == 1405061 && unknown.result == false, "unknown paths answer in the envelope: \(unknown)")
        }
    }

    @Test func registerTokensCreateGetAndRotate() async throws {
        let h = try await UMHarness.make()
        defer { Task { await h.cleanUp() } }
        try await h.run { api in
            let noCluster = try await api.call(.post, "/usermanager/v1/clusters/NOPE/register_tokens")
            #expect(noCluster.status == 400 && noCluster.code == 1405061 && noCluster.message.contains("cluster [NOPE] not found"), "\(noCluster)")
            _ = try await api.createCluster("C1")
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/register_tokens").status == 400, "none yet")
            #expect(try await api.call(.put, "/usermanager/v1/clusters/C1/register_tokens/rotate").status == 400, "nothing to rotate")
            let created = try await api.call(.post, "/usermanager/v1/clusters/C1/register_tokens")
            let token = try #require(created.data["token"] as? String)
            #expect(token.count == 128 && token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
            #expect(created.data["cluster_id"] as? String == "C1" && (created.data["id"] as? Int ?? 0) > 0 && created.data["created_at"] is String)
            let twice = try await api.call(.post, "/usermanager/v1/clusters/C1/register_tokens")
            #expect(twice.status == 500 && twice.code == 1405061 && twice.message.contains("token already exists"), "BCS's odd 500: \(twice)")
            let got = try await api.call(.get, "/usermanager/v1/clusters/C1/register_tokens")
            #expect(got.data["token"] as? String == token && got.data["id"] as? Int == created.data["id"] as? Int)

            #expect(try await api.report("C1", token: token).code == 0)
            let rotated = try await api.call(.put, "/usermanager/v1/clusters/C1/register_tokens/rotate")
            let newToken = try #require(rotated.data["token"] as? String)
            #expect(newToken != token && newToken.count == 128)
            let old = try await api.report("C1", token: token, saToken: "from-old-token")
            #expect(old.status == 400 && old.message.contains("invalid register token given"), "the old token is dead at once: \(old)")
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/credentials").data["user_token"] as? String == "sa-token-1", "and changed nothing")
            #expect(try await api.report("C1", token: newToken, saToken: "sa-token-2").code == 0)
            #expect(try await api.call(.get, "/usermanager/v1/clusters/C1/register_tokens").data["token"] as? String == newToken)
            let viaPost = try await api.call(.post, "/usermanager/v1/clusters/C1/register_tokens/rotate")
            #expect((viaPost.data["token"] as? String).map { $0 != newToken } == true)
            #expect(try await api.report("C1", token: newToken).status == 400)
        }
    }
}
