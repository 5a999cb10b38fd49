import BCSTestSupport
import Foundation
import Testing
import Yams

/// Every Kubernetes manifest under Deploy/ parses, uses today's API versions, and runs the binary
/// with flags and `BCS_*` variables it really has: a flag `bcs <command> --help` does not list fails.
@Suite("deploy manifests")
struct DeployManifestTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Kinds the manifests may use, with the API version Kubernetes serves them at today.
    static let apiVersions: [String: String] = [
        "Deployment": "apps/v1", "DaemonSet": "apps/v1", "StatefulSet": "apps/v1", "Service": "v1", "ServiceAccount": "v1",
        "Secret": "v1", "ConfigMap": "v1", "Namespace": "v1", "ClusterRole": "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding": "rbac.authorization.k8s.io/v1", "Role": "rbac.authorization.k8s.io/v1",
        "RoleBinding": "rbac.authorization.k8s.io/v1", "PodDisruptionBudget": "policy/v1",
    ]

    static func manifestFiles() throws -> [String] {
        let deploy = repository + "/Deploy"
        let enumerator = try #require(FileManager.default.enumerator(atPath: deploy))
        return enumerator.compactMap { $0 as? String }
            .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.contains("helm/") && !$0.hasPrefix("systemd/") }
            .map { deploy + "/" + $0 }.sorted()
    }

    @Test func manifestsUseRealFlagsAndCurrentAPIs() async throws {
        let bcs = try TestEnvironment.bcsBinary()
        var helps: [String: String] = [:]
        let files = try Self.manifestFiles()
        #expect(files.count >= 2, "manifests found: \(files)")
        var containers = 0
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let checked = try await Self.check(text, source: file, bcs: bcs, helps: &helps)
            #expect(checked.problems.isEmpty, "\(checked.problems.joined(separator: "\n"))")
            containers += checked.containers
        }
        #expect(containers >= 4, "containers checked: \(containers)")
    }

    /// The Helm chart, rendered as `helm template` would render it (by Deploy/helm/render.py), passes the same
    /// checks as the plain manifests: with its defaults (the control plane), as installed into a managed cluster
    /// (kube-agent in tunnel mode and k8s-watch through the gateway), and with every optional part switched on.
    @Test func helmChartUsesRealFlagsAndCurrentAPIs() async throws {
        let bcs = try TestEnvironment.bcsBinary()
        var helps: [String: String] = [:]
        let renders: [(name: String, arguments: [String], containers: Int)] = [
            ("defaults", ["--namespace", "bcs-system"], 3),
            (
                "managed cluster",
                [
                    "--namespace", "kube-system", "--set", "controlPlane.enabled=false,agent.enabled=true,watch.enabled=true",
                    "--set", "cluster.id=BCS-K8S-10001,cluster.bkeAddress=https://bcs.example.com,agent.useWebsocket=true",
                    "--set", "agent.insecureSkipVerify=true,agent.externalProxyAddresses=https://10.0.0.1:6443,agent.registerToken=token",
                ],
                2
            ),
            (
                "everything",
                [
                    "--namespace", "bcs-system", "--set", "agent.enabled=true,watch.enabled=true,watch.storageUrl=http://bcs-storage:8080",
                    "--set", "gateway.tls.enabled=false,secrets.create=true,secrets.secretKey=0123456789abcdef0123456789abcdef",
                    "--set", "secrets.mongodbUri=mongodb://mongo:27017,secrets.bootstrapAdmin=admin:token",
                    "--set", "usermanager.extraArgs={--log-level,debug},gateway.extraArgs={--impersonate,true}",
                ],
                5
            ),
        ]
        for render in renders {
            let text = try await Self.renderChart(Self.chart, render.arguments)
            let checked = try await Self.check(text, source: "helm chart (\(render.name))", bcs: bcs, helps: &helps)
            #expect(checked.problems.isEmpty, "\(checked.problems.joined(separator: "\n"))")
            #expect(checked.containers == render.containers, "helm chart (\(render.name)): \(checked.containers) containers checked")
        }
    }

    /// With its defaults, release name `bcs` and namespace bcs-system, the chart renders the objects of
    /// Deploy/kubernetes/control-plane.yaml, and each Deployment runs `bcs` with the same args and variables.
    @Test func helmChartDefaultsMatchTheControlPlaneManifest() async throws {
        let text = try await Self.renderChart(Self.chart, ["--namespace", "bcs-system"])
        let rendered = try Self.objects(text)
        let manifest = try Self.objects(String(contentsOfFile: Self.repository + "/Deploy/kubernetes/control-plane.yaml", encoding: .utf8))
        #expect(rendered.keys.sorted() == manifest.keys.sorted())
        for (key, object) in rendered where key.hasPrefix("Deployment/") {
            let chartContainer = Self.firstContainer(object)
            let manifestContainer = Self.firstContainer(manifest[key] ?? [:])
            #expect(chartContainer.args == manifestContainer.args, "\(key): args differ from control-plane.yaml")
            #expect(chartContainer.env == manifestContainer.env, "\(key): environment differs from control-plane.yaml")
        }
    }

    /// A flag or variable the binary does not have in a chart template fails the checks: a copy of the chart
    /// whose gateway passes `--kubeconfig-servr` and whose storage reads `BCS_MONGO_URI` renders, and fails them.
    @Test func helmChartCheckCatchesUnknownFlags() async throws {
        let bcs = try TestEnvironment.bcsBinary()
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent(TestEnvironment.uniqueName("bcs_chart")).path
        try FileManager.default.copyItem(atPath: Self.chart, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        for (file, good, bad) in [
            ("gateway.yaml", "- --kubeconfig-server\n", "- --kubeconfig-servr\n"),
            ("storage.yaml", "{name: BCS_MONGODB_URI,", "{name: BCS_MONGO_URI,"),
        ] {
            let template = copy + "/templates/" + file
            let original = try String(contentsOfFile: template, encoding: .utf8)
            #expect(original.contains(good), "\(file) no longer has \(good)")
            try original.replacingOccurrences(of: good, with: bad).write(toFile: template, atomically: true, encoding: .utf8)
        }
        var helps: [String: String] = [:]
        let text = try await Self.renderChart(copy, ["--namespace", "bcs-system"])
        let checked = try await Self.check(text, source: "doctored chart", bcs: bcs, helps: &helps)
        let expected: Set<String> = [
            "doctored chart: `bcs serve` has no flag --kubeconfig-servr", "doctored chart: `bcs serve` does not read BCS_MONGO_URI",
        ]
        #expect(Set(checked.problems) == expected, "\(checked.problems.joined(separator: "\n"))")
    }

    static let chart = repository + "/Deploy/helm/bcs"

    /// `Deploy/helm/render.py CHART ARGUMENTS…`: the chart's rendered documents, as `helm template` prints them.
    static func renderChart(_ chart: String, _ arguments: [String]) async throws -> String {
        let result = try await ChildProcess.run("/usr/bin/env", ["python3", repository + "/Deploy/helm/render.py", chart] + arguments)
        try #require(result.status == 0, "render.py \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return result.stdout
    }

    /// What is wrong with the Kubernetes documents in `text` (read from `source`), and how many containers were
    /// checked: every document is a mapping of a kind the manifests may use, at today's API version; every
    /// container has an image and runs a `bcs` command with flags and variables `bcs <command> --help` lists.
    /// `helps` keeps each command's help text between calls.
    static func check(
        _ text: String, source: String, bcs: String, helps: inout [String: String]
    ) async throws -> (problems: [String], containers: Int) {
        var problems: [String] = []
        var containers = 0
        for case let document? in try Yams.load_all(yaml: text) {
            guard let object = document as? [String: Any] else {
                problems.append("\(source): a document is not a mapping")
                continue
            }
            guard let kind = object["kind"] as? String else {
                problems.append("\(source): a document has no kind")
                continue
            }
            guard let expected = Self.apiVersions[kind] else {
                problems.append("\(source): unexpected kind \(kind)")
                continue
            }
            if object["apiVersion"] as? String != expected { problems.append("\(source): \(kind) must be \(expected)") }
            guard ["Deployment", "DaemonSet", "StatefulSet"].contains(kind) else { continue }
            let spec = (((object["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]) ?? [:]
            for container in spec["containers"] as? [[String: Any]] ?? [] {
                containers += 1
                let image = container["image"] as? String ?? ""
                if image.isEmpty { problems.append("\(source): a container has no image") }
                // `command: [bcs, kube-agent]` + args (BCS's agent YAML), or the image's entrypoint + `args: [serve, …]`.
                var args = ((container["command"] as? [Any] ?? []) + (container["args"] as? [Any] ?? [])).map { "\($0)" }
                if let first = args.first, first == "bcs" || first.hasSuffix("/bcs") { args.removeFirst() }
                guard let command = args.first else {
                    problems.append("\(source): a container runs no bcs command")
                    continue
                }
                if helps[command] == nil {
                    let result = try await ChildProcess.run(bcs, [command, "--help"])
                    if result.status != 0 { problems.append("\(source): `bcs \(command)` is not a command: \(result.stderr)") }
                    helps[command] = result.stdout + result.stderr
                }
                let help = helps[command] ?? ""
                for flag in args.dropFirst() where flag.hasPrefix("--") {
                    let name = String(flag.split(separator: "=").first ?? "")
                    if !(help.contains(name + " ") || help.contains(name + "\n") || help.contains(name + ",")) {
                        problems.append("\(source): `bcs \(command)` has no flag \(name)")
                    }
                }
                for variable in container["env"] as? [[String: Any]] ?? [] {
                    guard let name = variable["name"] as? String else { continue }
                    if !help.contains(name) { problems.append("\(source): `bcs \(command)` does not read \(name)") }
                }
            }
        }
        return (problems, containers)
    }

    /// The documents of `text` by `Kind/namespace/name`.
    static func objects(_ text: String) throws -> [String: [String: Any]] {
        var objects: [String: [String: Any]] = [:]
        for case let document? in try Yams.load_all(yaml: text) {
            guard let object = document as? [String: Any], let kind = object["kind"] as? String else { continue }
            let metadata = object["metadata"] as? [String: Any] ?? [:]
            objects["\(kind)/\(metadata["namespace"] as? String ?? "")/\(metadata["name"] as? String ?? "")"] = object
        }
        return objects
    }

    /// The command and args (as strings) and the variable names of a workload's first container.
    static func firstContainer(_ object: [String: Any]) -> (args: [String], env: [String]) {
        let spec = (((object["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]) ?? [:]
        let container = (spec["containers"] as? [[String: Any]])?.first ?? [:]
        let args = ((container["command"] as? [Any] ?? []) + (container["args"] as? [Any] ?? [])).map { "\($0)" }
        let env = (container["env"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        return (args, env)
    }
}
