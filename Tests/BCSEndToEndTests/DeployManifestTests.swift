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
            for case let document? in try Yams.load_all(yaml: text) {
                let object = try #require(document as? [String: Any], "\(file): a document is not a mapping")
                let kind = try #require(object["kind"] as? String, "\(file): a document has no kind")
                let expected = try #require(Self.apiVersions[kind], "\(file): unexpected kind \(kind)")
                #expect(object["apiVersion"] as? String == expected, "\(file): \(kind) must be \(expected)")
                guard ["Deployment", "DaemonSet", "StatefulSet"].contains(kind) else { continue }
                let spec = (((object["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]) ?? [:]
                for container in spec["containers"] as? [[String: Any]] ?? [] {
                    containers += 1
                    let image = container["image"] as? String ?? ""
                    #expect(!image.isEmpty, "\(file): a container has no image")
                    // `command: [bcs, kube-agent]` + args (BCS's agent YAML), or the image's entrypoint + `args: [serve, …]`.
                    var args = ((container["command"] as? [Any] ?? []) + (container["args"] as? [Any] ?? [])).map { "\($0)" }
                    if let first = args.first, first == "bcs" || first.hasSuffix("/bcs") { args.removeFirst() }
                    let command = try #require(args.first, "\(file): a container runs no bcs command")
                    if helps[command] == nil {
                        let result = try await ChildProcess.run(bcs, [command, "--help"])
                        #expect(result.status == 0, "\(file): `bcs \(command)` is not a command: \(result.stderr)")
                        helps[command] = result.stdout + result.stderr
                    }
                    let help = helps[command] ?? ""
                    for flag in args.dropFirst() where flag.hasPrefix("--") {
                        let name = String(flag.split(separator: "=").first ?? "")
                        #expect(help.contains(name + " ") || help.contains(name + "\n") || help.contains(name + ","), "\(file): `bcs \(command)` has no flag \(name)")
                    }
                    for variable in container["env"] as? [[String: Any]] ?? [] {
                        guard let name = variable["name"] as? String else { continue }
                        #expect(help.contains(name), "\(file): `bcs \(command)` does not read \(name)")
                    }
                }
            }
        }
        #expect(containers >= 4, "containers checked: \(containers)")
    }
}
