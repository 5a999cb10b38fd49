import BCSKube
import BCSTestSupport
import Foundation
import Testing

/// Objects created, updated and deleted in kube-sim appear, change and disappear in storage's
/// dynamic-resource routes; a deletion made while the watcher was down is repaired by reconcile.
@Suite(.serialized) struct ResourceEndToEndTests {
    func stored(_ harness: WatchHarness, _ path: String) async throws -> (status: Int, body: JSONValue) {
        try await harness.get("\(harness.storageBase)/k8s/dynamic/\(path)")
    }

    @Test func createdUpdatedDeletedObjectsAppearChangeAndDisappear() async throws {
        let harness = try await WatchHarness(kubeSimFlags: [])
        try await harness.startStorage()
        try await harness.startWatcher()
        let cluster = harness.clusterId
        let configMap = "namespace_resources/clusters/\(cluster)/namespaces/default/ConfigMap/settings"
        _ = try await harness.kubectl(["create", "configmap", "settings", "--from-literal=mode=first"])
        try await eventually(within: .seconds(30)) { try await stored(harness, configMap).body[path: "data", "data", "data", "mode"] == .string("first") }
        _ = try await harness.kubectl(["patch", "configmap", "settings", "--type", "merge", "-p", #"{"data":{"mode":"second"}}"#])
        try await eventually(within: .seconds(30)) { try await stored(harness, configMap).body[path: "data", "data", "data", "mode"] == .string("second") }

        let deployment = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default, labels: {app: web}}
            spec:
              replicas: 2
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: main, image: "nginx:1.27"}]}
            """
        _ = try await harness.kubectl(["apply", "-f", try harness.manifest("deployment.yaml", deployment)])
        _ = try await harness.kubectl(["create", "namespace", "team-a"])
        let deploymentPath = "namespace_resources/clusters/\(cluster)/namespaces/default/Deployment/web"
        let namespacePath = "cluster_resources/clusters/\(cluster)/Namespace/team-a"
        try await eventually(within: .seconds(30)) { try await stored(harness, deploymentPath).status == 200 }
        try await eventually(within: .seconds(30)) { try await stored(harness, namespacePath).status == 200 }
        #expect(try await stored(harness, deploymentPath).body[path: "data", "data", "spec", "replicas"] == .int(2))
        _ = try await harness.kubectl(["scale", "deployment", "web", "--replicas", "5"])
        try await eventually(within: .seconds(30)) { try await stored(harness, deploymentPath).body[path: "data", "data", "spec", "replicas"] == .int(5) }

        _ = try await harness.kubectl(["delete", "configmap", "settings"])
        _ = try await harness.kubectl(["delete", "deployment", "web"])
        _ = try await harness.kubectl(["delete", "namespace", "team-a"])
        try await eventually(within: .seconds(30)) { try await stored(harness, configMap).status == 404 }
        try await eventually(within: .seconds(30)) { try await stored(harness, deploymentPath).status == 404 }
        try await eventually(within: .seconds(30)) { try await stored(harness, namespacePath).status == 404 }
        // kube-sim's seeded node and namespaces are there too.
        let nodes = try await harness.get("\(harness.storageBase)/k8s/dynamic/cluster_resources/clusters/\(cluster)/Node")
        #expect((nodes.body["total"]?.intValue ?? 0) >= 1)
        #expect(try await harness.metric("bcs_k8s_watch_resources_dropped_total") == 0)
    }

    @Test func aDeletionMissedWhileTheWatcherWasDownIsRepairedByReconcile() async throws {
        let harness = try await WatchHarness(kubeSimFlags: [])
        try await harness.startStorage()
        try await harness.startWatcher(["--resources", "ConfigMap"])
        let path = "namespace_resources/clusters/\(harness.clusterId)/namespaces/default/ConfigMap/doomed"
        _ = try await harness.kubectl(["create", "configmap", "doomed", "--from-literal=a=b"])
        try await eventually(within: .seconds(30)) { try await stored(harness, path).status == 200 }
        #expect(await harness.stopWatcher() == 0)
        _ = try await harness.kubectl(["delete", "configmap", "doomed"])
        try await Task.sleep(for: .seconds(1))
        #expect(try await stored(harness, path).status == 200, "nobody watched the deletion")
        try await harness.startWatcher(["--resources", "ConfigMap", "--reconcile-delay", "1"])
        try await eventually(within: .seconds(30)) { try await stored(harness, path).status == 404 }
        #expect(try await harness.metric("bcs_k8s_watch_reconcile_repairs_total") >= 1)
    }
}

/// The watcher as deployed: in-cluster credentials, storage through the gateway's path with a token.
@Suite(.serialized) struct DeploymentModeEndToEndTests {
    @Test func inClusterThroughTheGatewayPathShipsEventsAndNeverLogsTheToken() async throws {
        let harness = try await WatchHarness(kubeSimFlags: ["--event-rate", "10"])
        try await harness.startStorage()
        let token = "GatewayToken\(UInt64.random(in: 1_000_000...9_999_999))Secret"
        try await harness.startWatcher(["--resources", "Event", "--log-level", "trace"], gatewayToken: token, inCluster: true)
        try await eventually(within: .seconds(30)) { try await harness.storedEvents().count >= 10 }
        try await harness.expectAllEventsStoredOnce(within: .seconds(60))
        #expect(await harness.stopWatcher() == 0)
        let output = (harness.watcher?.stdout ?? "") + (harness.watcher?.stderr ?? "")
        #expect(output.contains("/bcsapi/v4/storage"), "the start-up line names the storage base it uses")
        #expect(!output.contains(token), "the token never appears in the logs")
    }

    @Test(arguments: [
        (["--cluster-id", "c"], "give exactly one of --storage-url and --bke-address"),
        (["--cluster-id", "c", "--bke-address", "http://gw"], "--bke-address needs --token"),
        (["--cluster-id", "c", "--storage-url", "storage:8080"], "is not an http:// or https:// URL"),
        (["--cluster-id", "c", "--storage-url", "http://s", "--resources", "Event,Gadget"], "unknown resource \"Gadget\""),
        (["--cluster-id", "c", "--storage-url", "http://s", "--batch-size", "5000"], "--batch-size must be between 1 and 1000"),
    ])
    func badFlagsAreRefusedWithTheReason(arguments: [String], message: String) async throws {
        let result = try await ChildProcess.run(try TestEnvironment.bcsBinary(), ["k8s-watch"] + arguments + ["--kubeconfig", "/nonexistent"],
                                                environment: ["BCS_TOKEN": ""])
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
    }

    @Test func anUnreadableKubeconfigIsRefusedWithTheReason() async throws {
        let result = try await ChildProcess.run(try TestEnvironment.bcsBinary(),
                                                ["k8s-watch", "--cluster-id", "c", "--storage-url", "http://127.0.0.1:1", "--kubeconfig", "/nonexistent/kc"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot read the kubeconfig /nonexistent/kc"), "stderr: \(result.stderr)")
    }
}
