import BCSKube
import Testing
@testable import BCSK8sWatch

@Suite struct NodeHeartbeatTests {
    static func node(version: String, heartbeat: String, ready: String = "True", conditions: Int = 7, labels: [String: JSONValue] = [:]) -> JSONValue {
        let list: [JSONValue] = (0..<conditions).map { index in
            .object(["type": .string(index == 0 ? "Ready" : "C\(index)"), "status": .string(index == 0 ? ready : "False"),
                     "lastHeartbeatTime": .string(heartbeat), "lastTransitionTime": .string("2026-11-27T09:00:00Z")])
        }
        return .object(["metadata": .object(["name": .string("n1"), "resourceVersion": .string(version), "labels": .object(labels)]),
                        "status": .object(["conditions": .array(list)])])
    }

    @Test func heartbeatOnlyUpdatesAreRecognisedWithManyConditions() {
        #expect(NodeHeartbeat.onlyHeartbeatChanged(old: Self.node(version: "1", heartbeat: "10:00"), new: Self.node(version: "2", heartbeat: "10:01")))
    }

    @Test func realChangesAreNot() {
        let old = Self.node(version: "1", heartbeat: "10:00")
        #expect(!NodeHeartbeat.onlyHeartbeatChanged(old: old, new: Self.node(version: "2", heartbeat: "10:01", ready: "False")))
        #expect(!NodeHeartbeat.onlyHeartbeatChanged(old: old, new: Self.node(version: "2", heartbeat: "10:00", labels: ["a": .string("b")])))
        #expect(!NodeHeartbeat.onlyHeartbeatChanged(old: old, new: Self.node(version: "2", heartbeat: "10:00", conditions: 6)))
    }
}
