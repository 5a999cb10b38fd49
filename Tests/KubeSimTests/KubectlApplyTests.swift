import BCSTestSupport
import Foundation
import Testing

/// Client-side apply, label and scale: OpenAPI, GET, then POST or a strategic/merge PATCH.
@Suite("kube-sim apply, label, scale", .serialized)
struct KubectlApplyTests {
    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web}
        spec:
          replicas: 2
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
              - name: web
                image: nginx:1.27
                ports:
                - containerPort: 80
        """

    @Test("apply -f twice (unchanged the second time), change, label, scale", arguments: KubeSimHarness.kubectlVersions)
    func applyLabelScale(version: String) async throws {
        let sim = try await KubeSimHarness()
        let file = try sim.manifest("web.yaml", Self.deployment)
        let first = try await sim.kubectl(version, ["apply", "-f", file])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("deployment.apps/web created"), "\(first.stdout)")
        let second = try await sim.kubectl(version, ["apply", "-f", file])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("deployment.apps/web unchanged"), "\(second.stdout)")

        let changed = try sim.manifest("web2.yaml", Self.deployment.replacingOccurrences(of: "nginx:1.27", with: "nginx:1.28"))
        let third = try await sim.kubectl(version, ["apply", "-f", changed])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stdout.contains("deployment.apps/web configured"), "\(third.stdout)")
        let image = try await sim.kubectl(version, ["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation} {.spec.template.spec.containers[0].ports[0].containerPort}"])
        #expect(image.stdout == "nginx:1.28 2 80", "\(image.stdout) \(image.stderr)")

        let labelled = try await sim.kubectl(version, ["label", "deployment", "web", "tier=frontend"])
        #expect(labelled.status == 0, "\(labelled.stderr)")
        #expect(labelled.stdout.contains("deployment.apps/web labeled"))
        let selected = try await sim.kubectl(version, ["get", "deployments", "-l", "tier=frontend", "-o", "name"])
        #expect(selected.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "deployment.apps/web")

        let scaled = try await sim.kubectl(version, ["scale", "deployment", "web", "--replicas=5"])
        #expect(scaled.status == 0, "\(scaled.stderr)")
        #expect(scaled.stdout.contains("deployment.apps/web scaled"))
        let table = try await sim.kubectl(version, ["get", "deployment", "web"])
        #expect(table.stdout.contains("UP-TO-DATE"))
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("web") && $0.contains("5/5") }, "\(table.stdout)")
    }

    @Test("patch --type=json and --type=merge, apply --server-side, deletecollection", arguments: KubeSimHarness.kubectlVersions)
    func otherPatches(version: String) async throws {
        let sim = try await KubeSimHarness()
        let file = try sim.manifest("cm.yaml", """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: flags
              labels: {app: flags}
            data:
              a: "1"
            """)
        let applied = try await sim.kubectl(version, ["apply", "--server-side", "-f", file])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("configmap/flags serverside-applied"), "\(applied.stdout)")
        let json = try await sim.kubectl(version, ["patch", "configmap", "flags", "--type=json", "-p", #"[{"op":"add","path":"/data/b","value":"2"},{"op":"replace","path":"/data/a","value":"3"}]"#])
        #expect(json.status == 0, "\(json.stderr)")
        let merge = try await sim.kubectl(version, ["patch", "configmap", "flags", "--type=merge", "-p", #"{"data":{"c":"4"}}"#])
        #expect(merge.status == 0, "\(merge.stderr)")
        let data = try await sim.kubectl(version, ["get", "configmap", "flags", "-o", "jsonpath={.data.a}{.data.b}{.data.c}"])
        #expect(data.stdout == "324")
        let failing = try await sim.kubectl(version, ["patch", "configmap", "flags", "--type=json", "-p", #"[{"op":"remove","path":"/data/nope"}]"#])
        #expect(failing.status == 1)
        let removed = try await sim.curl("/api/v1/namespaces/default/configmaps?labelSelector=app%3Dflags", method: "DELETE")
        #expect(removed.code == 200)
        #expect(removed.body.contains("\"name\":\"flags\""))
        #expect(try await sim.curl("/api/v1/namespaces/default/configmaps/flags").code == 404)
    }

    @Test("an update with a stale resourceVersion is a Conflict; a bad name is Invalid")
    func conflictAndInvalid() async throws {
        let sim = try await KubeSimHarness()
        let path = "/api/v1/namespaces/default/configmaps"
        let created = try await sim.curl(path, method: "POST", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#)
        #expect(created.code == 201)
        let stale = try await sim.curl(path + "/x", method: "PUT", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","resourceVersion":"1"},"data":{"a":"b"}}"#)
        #expect(stale.code == 409)
        #expect(stale.body.contains("\"reason\":\"Conflict\""))
        let invalid = try await sim.curl(path, method: "POST", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#)
        #expect(invalid.code == 422)
        #expect(invalid.body.contains("\"reason\":\"Invalid\""))
        let missing = try await sim.curl("/api/v1/namespaces/nowhere/configmaps", method: "POST", body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"y"}}"#)
        #expect(missing.code == 404)
    }
}
