import BCSKube
import Foundation
import NIOCore
import Testing
@testable import BCSK8sWatch

@Suite struct EventMapperTests {
    static let event: JSONValue = .object([
        "apiVersion": .string("v1"), "kind": .string("Event"),
        "metadata": .object(["name": .string("web-1.17a"), "namespace": .string("default"), "uid": .string("u-1"), "resourceVersion": .string("42")]),
        "involvedObject": .object(["kind": .string("Pod"), "namespace": .string("default"), "name": .string("web-1")]),
        "reason": .string("BackOff"), "type": .string("Warning"), "message": .string("Back-off restarting failed container"),
        "source": .object(["component": .string("kubelet"), "host": .string("node-1")]),
        "firstTimestamp": .string("2026-11-27T10:00:00Z"), "lastTimestamp": .string("2026-11-27T10:05:00Z"), "count": .int(7),
    ])

    @Test func mapsEveryFieldOfBCSBody() throws {
        let body = try #require(EventMapper.body(for: Self.event, clusterId: "BCS-K8S-1"))
        #expect(body["env"] == .string("k8s"))
        #expect(body["kind"] == .string("Pod"))
        #expect(body["level"] == .string("Warning"))
        #expect(body["component"] == .string("kubelet"))
        #expect(body["type"] == .string("BackOff"))
        #expect(body["describe"] == .string("Back-off restarting failed container"))
        #expect(body["clusterId"] == .string("BCS-K8S-1"))
        #expect(body["eventTime"] == .int(1_795_773_900)) // 2026-11-27T10:05:00Z, from lastTimestamp
        #expect(body["extraInfo"] == .object(["namespace": .string("default"), "name": .string("web-1"), "kind": .string("Pod")]))
        #expect(body["data"] == Self.event)
    }

    @Test func eventTimeFallsBackToMicroTimeThenCreation() throws {
        guard case .object(var fields) = Self.event else { Issue.record("not an object"); return }
        fields["lastTimestamp"] = .null
        fields["firstTimestamp"] = nil
        fields["eventTime"] = .string("2026-11-27T10:06:00.123456Z")
        let micro = try #require(EventMapper.body(for: .object(fields), clusterId: "c"))
        #expect(micro["eventTime"] == .int(1_795_773_960))
        fields["eventTime"] = .null
        fields["metadata"] = .object(["uid": .string("u"), "creationTimestamp": .string("2026-11-27T10:07:00Z")])
        let created = try #require(EventMapper.body(for: .object(fields), clusterId: "c"))
        #expect(created["eventTime"] == .int(1_795_774_020))
    }

    @Test func anEventWithoutUidIsNotMapped() {
        #expect(EventMapper.body(for: .object(["reason": .string("x")]), clusterId: "c") == nil)
    }

    @Test func watchLinesDecodeIncludingExpiredAndBookmarks() throws {
        func line(_ text: String) throws -> KubeWatchEvent { try KubeWatchStream.decode(.init(string: text)) }
        #expect(try line(#"{"type":"BOOKMARK","object":{"kind":"Event","metadata":{"resourceVersion":"99"}}}"#) == .bookmark(resourceVersion: "99"))
        #expect(try line(#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}}"#) == .expired(message: "too old"))
        #expect(try line(#"{"type":"ERROR","object":{"kind":"Status","code":500,"message":"boom"}}"#) == .error(status: 500, message: "boom"))
        #expect(try line(#"{"type":"MODIFIED","object":{"count":3}}"#) == .modified(.object(["count": .int(3)])))
        #expect(throws: KubeAPIError.self) { try line(#"{"type":"NOPE","object":{}}"#) }
        #expect(throws: KubeAPIError.self) { try line("not json") }
    }
}
