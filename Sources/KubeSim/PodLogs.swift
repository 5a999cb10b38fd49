import BCSMongo
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

/// `pods/{name}/log`: every simulated pod writes one line a second since it started.
///
/// The lines are computed, not stored, so logs cost no memory: line N is the pod's N-th heartbeat.
/// With `follow=true` the body stays open and a new line is written each second.
struct PodLogs {
    let store: ObjectStore
    let namespace: String
    private static let pods = ResourceCatalog.find(groupVersion: "v1", name: "pods")!

    /// The pod's N-th heartbeat line, also what `pods/attach` shows of the main process.
    static func heartbeat(_ n: Int, started: Date, container: String, namespace: String, name: String) -> String {
        "\(Timestamps.format(started.addingTimeInterval(Double(n)))) \(container) heartbeat \(n) from \(namespace)/\(name)\n"
    }

    func response(name: String, query: FlatDictionary<Substring, Substring>) async throws -> Response {
        let pod = try await store.get(Self.pods, namespace: namespace, name: name)
        let started = Timestamps.parse(pod.string("metadata", "creationTimestamp") ?? "") ?? Date()
        let container = query["container"].map(String.init) ?? pod["spec"]?.doc["containers"]?.arrayValue?.first?.doc["name"]?.stringValue ?? "main"
        let timestamps = query["timestamps"] == "true"
        let follow = query["follow"] == "true"
        let elapsed = max(0, Int(Date().timeIntervalSince(started)))
        var first = 0
        if let tail = query["tailLines"].flatMap({ Int($0) }) { first = max(0, elapsed + 1 - tail) }
        if let since = query["sinceSeconds"].flatMap({ Int($0) }) { first = max(first, elapsed - since) }
        let store = self.store
        let namespace = self.namespace
        let start = first
        let line: @Sendable (Int) -> String = { n in
            let text = Self.heartbeat(n, started: started, container: container, namespace: namespace, name: name)
            return timestamps ? Timestamps.format(started.addingTimeInterval(Double(n))) + " " + text : text
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain"
        let body = ResponseBody { writer in
            var n = start
            while n <= elapsed {
                try await writer.write(ByteBuffer(string: line(n)))
                n += 1
            }
            while follow, !Task.isCancelled {
                let due = started.addingTimeInterval(Double(n))
                let wait = due.timeIntervalSinceNow
                if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000) + 1)) }
                guard await store.exists(Self.pods, namespace: namespace, name: name) else { break }
                try await writer.write(ByteBuffer(string: line(n)))
                n += 1
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
