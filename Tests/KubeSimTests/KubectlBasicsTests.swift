import BCSTestSupport
import Foundation
import Testing

/// Real kubectl (two minor versions) against `bcs kube-sim`: discovery, tables, CRUD, auth.
@Suite("kube-sim with kubectl", .serialized)
struct KubectlBasicsTests {
    @Test("the process prints its URL and writes the client files")
    func startup() async throws {
        let sim = try await KubeSimHarness()
        #expect(sim.url.hasPrefix("https://127.0.0.1:"))
        let port = try #require(Int(sim.url.split(separator: ":").last ?? ""))
        #expect(port > 0)
        let env = try String(contentsOfFile: sim.directory + "/incluster/env", encoding: .utf8)
        #expect(env.contains("KUBERNETES_SERVICE_HOST=127.0.0.1"))
        #expect(env.contains("KUBERNETES_SERVICE_PORT=\(port)"))
        #expect(try String(contentsOfFile: sim.directory + "/incluster/token", encoding: .utf8) == sim.token)
        #expect(try String(contentsOfFile: sim.directory + "/incluster/namespace", encoding: .utf8) == "default")
        let kubeconfig = try String(contentsOfFile: sim.kubeconfig, encoding: .utf8)
        #expect(kubeconfig.contains("server: \(sim.url)"))
        let version = try await sim.curl("/version")
        #expect(version.code == 200 && version.body.contains("\"gitVersion\""))
        #expect(try await sim.curl("/readyz").code == 200)
        let anonymous = try await sim.curl("/api/v1/namespaces", token: "wrong")
        #expect(anonymous.code == 401)
        #expect(anonymous.body.contains("\"reason\":\"Unauthorized\""))
    }

    @Test("discovery answers the aggregated version kubectl asks for, legacy JSON otherwise")
    func discoveryNegotiation() async throws {
        let sim = try await KubeSimHarness()
        let v129 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        let v133 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        let old = try await sim.curl("/apis", accept: v129)
        #expect(old.contentType == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
        #expect(old.body.contains("\"apiVersion\":\"apidiscovery.k8s.io/v2beta1\""))
        #expect(old.body.contains("\"resource\":\"deployments\""))
        #expect(old.body.contains("\"subresource\":\"scale\""))
        let new = try await sim.curl("/api", accept: v133)
        #expect(new.contentType == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        #expect(new.body.contains("\"resource\":\"pods\""))
        let legacy = try await sim.curl("/api", accept: "application/json, */*")
        #expect(legacy.contentType == "application/json")
        #expect(legacy.body.contains("\"kind\":\"APIVersions\""))
        let groupVersion = try await sim.curl("/apis/apps/v1")
        #expect(groupVersion.body.contains("\"name\":\"deployments/scale\""))
    }

    @Test("HTTP/2 when ALPN offers it, HTTP/1.1 otherwise (kubectl's exec and port-forward send no ALPN); with --no-http2, HTTP/1.1")
    func httpVersions() async throws {
        let plain = try await KubeSimHarness(["--no-http2"])
        let offered = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--http2", "--cacert", plain.caFile, "-H", "Authorization: Bearer \(plain.token)",
                                                                  "-o", "/dev/null", "-w", "%{http_version}", plain.url + "/api/v1/namespaces"])
        #expect(offered.stdout == "1.1", "\(offered.stderr)")
        let sim = try await KubeSimHarness()
        for (flag, expected) in [("--http2", "2"), ("--http1.1", "1.1")] {
            let result = try await ChildProcess.run("/usr/bin/curl", ["-sS", flag, "--cacert", sim.caFile, "-H", "Authorization: Bearer \(sim.token)",
                                                                     "-o", "/dev/null", "-w", "%{http_version} %{http_code}", sim.url + "/api/v1/namespaces"])
            #expect(result.stdout == "\(expected) 200", "\(result.stderr)")
        }
        let kubectl = try await sim.kubectl("1.33", ["get", "ns"])
        #expect(kubectl.status == 0 && kubectl.stdout.contains("kube-system"), "\(kubectl.stderr)")
        // A watch streams over HTTP/2 as over HTTP/1.1.
        let watch = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--http2", "--cacert", sim.caFile, "-H", "Authorization: Bearer \(sim.token)",
                                                                "\(sim.url)/api/v1/namespaces?watch=1&timeoutSeconds=1"])
        #expect(watch.stdout.split(separator: "\n").count == 4, "\(watch.stdout) \(watch.stderr)")
    }

    @Test("OpenAPI v2 as JSON for clients that accept it; 406 to kubectl's protobuf-only Accept, which it tolerates like 404")
    func openAPIV2() async throws {
        let sim = try await KubeSimHarness()
        // The document is ~40 KB: written to a file, since a child's large stdout may still be in the pipe when it exits.
        let file = sim.directory + "/openapi-v2.json"
        let fetched = try await ChildProcess.run("/usr/bin/curl", ["-sS", "--cacert", sim.caFile, "-H", "Authorization: Bearer \(sim.token)",
                                                                  "-H", "Accept: application/json", "-o", file, "-w", "%{http_code}", sim.url + "/openapi/v2"])
        #expect(fetched.stdout == "200", "\(fetched.stderr)")
        let body = try String(contentsOfFile: file, encoding: .utf8)
        #expect(body.hasPrefix(#"{"swagger":"2.0""#))
        #expect(body.contains(#""io.k8s.api.apps.v1.Deployment":{"#))
        #expect(body.contains(#""x-kubernetes-group-version-kind":[{"group":"apps","version":"v1","kind":"Deployment"}]"#))
        #expect(body.contains(#""/api/v1/namespaces/{namespace}/configmaps/{name}":{"#))
        let protobuf = try await sim.curl("/openapi/v2", accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
        #expect(protobuf.code == 406)
        #expect(protobuf.body.contains(#""reason":"NotAcceptable""#))
        let kubectl = try KubeSimHarness.kubectlPath("1.33")
        let raw = try await ChildProcess.run("/bin/sh", ["-c", "'\(kubectl)' --kubeconfig '\(sim.kubeconfig)' get --raw /openapi/v2 > '\(file)'"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix(#"{"swagger":"2.0""#))
    }

    @Test("the object cap refuses creates beyond --max-objects with a Status")
    func objectCap() async throws {
        // A fresh simulator holds 5 objects: four namespaces and one node.
        let sim = try await KubeSimHarness(["--max-objects", "6"])
        let body = { (name: String) in #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\#(name)"}}"# }
        #expect(try await sim.curl("/api/v1/namespaces/default/configmaps", method: "POST", body: body("one")).code == 201)
        let refused = try await sim.curl("/api/v1/namespaces/default/configmaps", method: "POST", body: body("two"))
        #expect(refused.code == 507)
        #expect(refused.body.contains("\"kind\":\"Status\""))
        #expect(try await sim.curl("/api/v1/namespaces/default/configmaps/one", method: "DELETE").code == 200)
        #expect(try await sim.curl("/api/v1/namespaces/default/configmaps", method: "POST", body: body("two")).code == 201)
    }

    @Test("get ns prints the table columns", arguments: KubeSimHarness.kubectlVersions)
    func getNamespaces(version: String) async throws {
        let sim = try await KubeSimHarness()
        let result = try await sim.kubectl(version, ["get", "ns"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("STATUS"))
        let line = result.stdout.split(separator: "\n").first { $0.hasPrefix("default ") }
        #expect(line?.contains("Active") == true, "\(result.stdout)")
        #expect(result.stdout.contains("kube-system"))
    }

    @Test("create -f, get, delete, then NotFound", arguments: KubeSimHarness.kubectlVersions)
    func createGetDelete(version: String) async throws {
        let sim = try await KubeSimHarness()
        let file = try sim.manifest("cm.yaml", """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
              labels: {app: web}
            data:
              mode: fast
              size: "3"
            """)
        let created = try await sim.kubectl(version, ["create", "-f", file])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("configmap/settings created"))
        let again = try await sim.kubectl(version, ["create", "-f", file])
        #expect(again.status == 1)
        #expect(again.stderr.contains("AlreadyExists"), "\(again.stderr)")

        let table = try await sim.kubectl(version, ["get", "configmaps", "-l", "app=web"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("DATA"))
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("settings") && $0.contains(" 2 ") }, "\(table.stdout)")
        let none = try await sim.kubectl(version, ["get", "configmaps", "-l", "app=db"])
        #expect(!none.stdout.contains("settings"))

        let json = try await sim.kubectl(version, ["get", "configmap", "settings", "-o", "json"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let metadata = object?["metadata"] as? [String: Any]
        #expect((metadata?["uid"] as? String)?.isEmpty == false)
        #expect(Int(metadata?["resourceVersion"] as? String ?? "") != nil)
        #expect(metadata?["creationTimestamp"] is String)
        #expect((object?["data"] as? [String: String])?["mode"] == "fast")

        let deleted = try await sim.kubectl(version, ["delete", "configmap", "settings"])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(deleted.stdout.contains("configmap \"settings\" deleted"))
        let gone = try await sim.kubectl(version, ["get", "configmap", "settings"])
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("Error from server (NotFound): configmaps \"settings\" not found"), "\(gone.stderr)")
    }

    @Test("imperative create namespace, configmap, secret (protobuf bodies from kubectl 1.32+)", arguments: KubeSimHarness.kubectlVersions)
    func imperativeCreate(version: String) async throws {
        let sim = try await KubeSimHarness()
        let namespace = try await sim.kubectl(version, ["create", "namespace", "team-a"])
        #expect(namespace.status == 0, "\(namespace.stderr)")
        #expect(namespace.stdout.contains("namespace/team-a created"))
        let configMap = try await sim.kubectl(version, ["create", "configmap", "cfg", "-n", "team-a", "--from-literal=a=1", "--from-literal=b=2"])
        #expect(configMap.status == 0, "\(configMap.stderr)")
        let data = try await sim.kubectl(version, ["get", "configmap", "cfg", "-n", "team-a", "-o", "jsonpath={.data.a}{.data.b}"])
        #expect(data.stdout == "12")
        let secret = try await sim.kubectl(version, ["create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=user=admin"])
        #expect(secret.status == 0, "\(secret.stderr)")
        let stored = try await sim.kubectl(version, ["get", "secret", "creds", "-n", "team-a", "-o", "jsonpath={.type} {.data.user}"])
        #expect(stored.stdout == "Opaque YWRtaW4=", "\(stored.stdout) \(stored.stderr)")
        let table = try await sim.kubectl(version, ["get", "secrets", "-n", "team-a"])
        #expect(table.stdout.contains("TYPE"))
    }

    @Test("imperative create deployment, service clusterip, serviceaccount (protobuf bodies from kubectl 1.32+)", arguments: KubeSimHarness.kubectlVersions)
    func imperativeCreateWorkloads(version: String) async throws {
        let sim = try await KubeSimHarness()
        let deployment = try await sim.kubectl(version, ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80", "--", "nginx", "-g", "daemon off;"])
        #expect(deployment.status == 0, "\(deployment.stderr)")
        #expect(deployment.stdout.contains("deployment.apps/web created"))
        let spec = try await sim.kubectl(version, ["get", "deployment", "web", "-o",
            "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.metadata.labels.app} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.template.spec.containers[0].command[2]}"])
        #expect(spec.stdout == "2 web web nginx:1.27 80 daemon off;", "\(spec.stdout) \(spec.stderr)")
        let zero = try await sim.kubectl(version, ["create", "deployment", "idle", "--image=busybox", "--replicas=0"])
        #expect(zero.status == 0, "\(zero.stderr)")
        #expect(try await sim.kubectl(version, ["get", "deployment", "idle", "-o", "jsonpath={.spec.replicas}"]).stdout == "0")
        let scaled = try await sim.kubectl(version, ["scale", "deployment", "web", "--replicas=3"])
        #expect(scaled.status == 0, "\(scaled.stderr)")
        let service = try await sim.kubectl(version, ["create", "service", "clusterip", "web", "--tcp=80:8080"])
        #expect(service.status == 0, "\(service.stderr)")
        #expect(service.stdout.contains("service/web created"))
        let ports = try await sim.kubectl(version, ["get", "service", "web", "-o", "jsonpath={.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.selector.app}"])
        #expect(ports.stdout == "ClusterIP 80 8080 web", "\(ports.stdout) \(ports.stderr)")
        let account = try await sim.kubectl(version, ["create", "serviceaccount", "robot"])
        #expect(account.status == 0, "\(account.stderr)")
        #expect(account.stdout.contains("serviceaccount/robot created"))
    }

    @Test("a bad token gives kubectl's Unauthorized error", arguments: KubeSimHarness.kubectlVersions)
    func badToken(version: String) async throws {
        let sim = try await KubeSimHarness()
        // Cold discovery cache: discovery reads the 401 without decoding the Status, as with a real apiserver.
        let cold = try await sim.kubectl(version, ["--token", "not-the-token", "get", "pods"])
        #expect(cold.status == 1)
        #expect(cold.stderr.contains("error: You must be logged in to the server (the server has asked for the client to provide credentials)"), "\(cold.stderr)")
        // Warm cache: the list itself gets the 401 and kubectl prints the Status reason.
        let good = try await sim.kubectl(version, ["get", "pods"])
        #expect(good.status == 0, "\(good.stderr)")
        let warm = try await sim.kubectl(version, ["--token", "not-the-token", "get", "pods"])
        #expect(warm.status == 1)
        #expect(warm.stderr.contains("error: You must be logged in to the server (Unauthorized)"), "\(warm.stderr)")
    }

    @Test("list paging with limit and continue; kubectl --chunk-size walks every page", arguments: KubeSimHarness.kubectlVersions)
    func paging(version: String) async throws {
        let sim = try await KubeSimHarness()
        for index in 0..<5 {
            let created = try await sim.curl("/api/v1/namespaces/default/configmaps", method: "POST",
                                             body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-\#(index)"}}"#)
            #expect(created.code == 201, "\(created.body)")
        }
        let page = try await sim.curl("/api/v1/namespaces/default/configmaps?limit=2")
        #expect(page.body.contains("\"continue\":"))
        #expect(page.body.contains("\"remainingItemCount\":3"))
        let chunked = try await sim.kubectl(version, ["get", "cm", "--chunk-size=2", "-o", "name"])
        #expect(chunked.stdout.split(separator: "\n").count == 5, "\(chunked.stdout)")
    }
}
