import BCSMongo
import Testing
@testable import KubeSim

/// The pure pieces behind apply, label, list filtering and exec: merge patches, selectors, the shell parser.
@Suite("kube-sim patch, selectors, shell parsing")
struct PatchAndSelectorTests {
    private func json(_ text: String) throws -> BSON { try JSONText.parse(Array(text.utf8)) }

    @Test("a JSON merge patch replaces lists, merges objects and deletes on null")
    func mergePatch() throws {
        let target = try json(#"{"a":{"b":1,"c":2},"l":[{"name":"x","v":1}],"keep":true}"#)
        let patch = try json(#"{"a":{"b":null,"d":3},"l":[{"name":"y"}]}"#)
        let merged = try #require(MergePatch.merge(target, patch, strategic: false))
        #expect(JSONText.render(merged) == #"{"a":{"c":2,"d":3},"l":[{"name":"y"}],"keep":true}"#)
    }

    @Test("a strategic merge patch merges keyed lists, honours $patch: delete and drops directives")
    func strategicPatch() throws {
        let target = try json(#"{"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","image":"1"}]}}"#)
        let patch = try json(#"{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"c"}],"containers":[{"name":"a","image":"2"},{"name":"b","$patch":"delete"},{"name":"c","image":"3"}]}}"#)
        let merged = try #require(MergePatch.merge(target, patch, strategic: true))
        #expect(JSONText.render(merged) == #"{"spec":{"containers":[{"name":"a","image":"2"},{"name":"c","image":"3"}]}}"#)
    }

    @Test("label selectors: equality, inequality, existence, set membership")
    func labelSelectors() throws {
        let labels = ["app": "web", "tier": "front"]
        let lookup = { (key: String) in labels[key] }
        #expect(try Selector(parsing: "app=web,tier==front").matches(lookup))
        #expect(try !Selector(parsing: "app!=web").matches(lookup))
        #expect(try Selector(parsing: "app,!missing").matches(lookup))
        #expect(try Selector(parsing: "tier in (front, back),app notin (db)").matches(lookup))
        #expect(try !Selector(parsing: "tier notin (front)").matches(lookup))
        #expect(try Selector(parsing: "").matches(lookup))
        #expect(throws: KubeStatus.self) { try Selector(parsing: "a in b") }
    }

    @Test("the shell parser splits words, quotes and operators")
    func shellParsing() {
        let parsed = MiniShell.parse(#"echo "a  b" 'c;d' && exit 3; false || hostname"#)
        #expect(parsed.map(\.0) == [["echo", "a  b", "c;d"], ["exit", "3"], ["false"], ["hostname"]])
        #expect(parsed.map(\.1) == ["&&", ";", "||", ""])
    }

    @Test("the watch window keeps the newest changes and reports the floor")
    func watchWindow() {
        var window = WatchWindow(capacity: 3, floor: 1)
        for rv in 2...7 {
            window.append(WatchEvent(resourceVersion: rv, kind: .modified, resource: "pods", namespace: "default", object: [:]))
        }
        #expect(window.floor == 4)
        #expect(window.since(3) == nil)
        #expect(window.since(4)?.map(\.resourceVersion) == [5, 6, 7])
        #expect(window.since(6)?.map(\.resourceVersion) == [7])
    }
}
