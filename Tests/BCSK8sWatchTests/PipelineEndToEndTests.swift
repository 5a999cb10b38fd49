import BCSKube
import BCSTestSupport
import Foundation
import Testing

/// kube-sim → `bcs k8s-watch` → `bcs serve --roles storage` → nx-27017, as real processes.
@Suite(.serialized) struct PipelineEndToEndTests {
    @Test func everyEventIsStoredExactlyOnceWithItsLatestCount() async throws {
        let harness = try await WatchHarness(kubeSimFlags: ["--event-rate", "20"])
        try await harness.startStorage()
        try await harness.startWatcher(["--resources", "Event"])
        try await Task.sleep(for: .seconds(15))
        try await harness.expectAllEventsStoredOnce(within: .seconds(60))
        let stored = try await harness.storedEvents()
        #expect(stored.count >= 150, "15 s at 20 events/s, two thirds new: \(stored.count) stored")
        #expect(stored.values.contains { ($0.first ?? 0) > 1 }, "repeated events are stored with their raised count")
        #expect(try await harness.metric("bcs_k8s_watch_events_dropped_total") == 0)
        #expect(try await harness.metric("bcs_k8s_watch_events_shipped_total") > 0)
        #expect(await harness.stopWatcher() == 0, "SIGTERM ends the watcher cleanly")
    }

    @Test func storageDownForThirtySecondsLosesNothing() async throws {
        let harness = try await WatchHarness(kubeSimFlags: ["--event-rate", "15"])
        try await harness.startStorage()
        try await harness.startWatcher(["--resources", "Event"])
        try await eventually(within: .seconds(30)) { try await harness.storedEvents().count >= 20 }
        await harness.stopStorage()
        #expect((try? await harness.storedEvents()) == nil, "storage is down: queries fail")
        try await Task.sleep(for: .seconds(30))
        #expect(try await harness.metric("bcs_k8s_watch_events_retried_total") > 0, "the watcher retried while storage was down")
        try await harness.startStorage()
        try await harness.expectAllEventsStoredOnce(within: .seconds(90))
        #expect(try await harness.metric("bcs_k8s_watch_events_dropped_total") == 0)
    }

    @Test func watcherKilledAndRestartedLosesAndDuplicatesNothing() async throws {
        let harness = try await WatchHarness(kubeSimFlags: ["--event-rate", "20"])
        try await harness.startStorage()
        try await harness.startWatcher(["--resources", "Event"])
        try await eventually(within: .seconds(30)) { try await harness.storedEvents().count >= 30 }
        await harness.killWatcher()
        let storedWhileDown = try await harness.storedEvents().count
        try await Task.sleep(for: .seconds(8))
        #expect(try await harness.storedEvents().count == storedWhileDown, "nothing is written while the watcher is dead")
        try await harness.startWatcher(["--resources", "Event"])
        try await harness.expectAllEventsStoredOnce(within: .seconds(60))
    }

    @Test func forced410RelistsWithoutDuplicates() async throws {
        // A watch window of 5 changes and no bookmarks: the Event watch's last version falls out
        // of the window as soon as 20 ConfigMaps are created, so its next resume gets 410.
        let harness = try await WatchHarness(kubeSimFlags: ["--watch-window", "5", "--bookmark-interval", "3600"])
        try await harness.startStorage()
        try await harness.startWatcher(["--resources", "Event,ConfigMap", "--watch-timeout", "2"])
        let events = (0..<10).map { index in
            """
            apiVersion: v1
            kind: Event
            metadata: {name: "probe.\(index)", namespace: default}
            involvedObject: {kind: Pod, namespace: default, name: "probe-\(index)"}
            reason: Probe
            type: Normal
            message: "probe \(index)"
            source: {component: test}
            count: 1
            firstTimestamp: "2026-11-27T10:00:00Z"
            lastTimestamp: "2026-11-27T10:00:00Z"
            """
        }.joined(separator: "\n---\n")
        _ = try await harness.kubectl(["create", "-f", try harness.manifest("events.yaml", events)])
        try await eventually(within: .seconds(30)) { try await harness.storedEvents().count == 10 }
        for index in 0..<3 {
            _ = try await harness.kubectl(["patch", "event", "probe.\(index)", "--type", "merge", "-p", #"{"count":5,"lastTimestamp":"2026-11-27T10:01:00Z"}"#])
        }
        let configMaps = (0..<20).map { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"filler-\($0)\", namespace: default}\ndata: {k: v}" }
            .joined(separator: "\n---\n")
        _ = try await harness.kubectl(["create", "-f", try harness.manifest("fillers.yaml", configMaps)])
        try await eventually(within: .seconds(30)) { try await harness.metric("bcs_k8s_watch_relists_total", labels: "resource=\"Event\"") >= 1 }
        // After the relist the watch goes on: a later update still arrives.
        _ = try await harness.kubectl(["patch", "event", "probe.9", "--type", "merge", "-p", #"{"count":9,"lastTimestamp":"2026-11-27T10:02:00Z"}"#])
        try await eventually(within: .seconds(30)) { try await harness.storedEvents().values.contains([9]) }
        let problems = try await harness.eventProblems(settle: 0)
        #expect(problems.isEmpty, "\(problems)")
        let stored = try await harness.storedEvents()
        #expect(stored.count == 10)
        #expect(stored.values.filter { $0 == [5] }.count == 3)
    }
}
