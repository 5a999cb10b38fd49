import BCSTestSupport
import Foundation
import NIOHTTP1

/// A `bcs serve --roles storage` in process, on a database of its own so tests run in parallel.
struct StorageFixture {
    let serve: RunningServe
    let database: String

    static func start(flags: [String: String] = [:], mongoURI: String? = nil) async throws -> StorageFixture {
        let database = TestEnvironment.uniqueName("storage")
        var all = ["roles": "storage", "database": database, "retention-interval": "3600"]
        all.merge(flags) { _, new in new }
        let serve = try await RunningServe.start(mongoURI: mongoURI, flags: all)
        return StorageFixture(serve: serve, database: database)
    }

    func send(_ method: HTTPMethod, _ path: String, body: Any? = nil) async throws -> HTTPResult {
        try await serve.send(method, "/bcsstorage/v1" + path, body: body)
    }

    func stop() async { _ = await serve.stop() }

    /// An event body as k8s-watch sends it.
    static func event(
        cluster: String = "BCS-K8S-1", uid: String? = nil, rv: String? = nil, time: Int = 1_700_000_000,
        namespace: String = "default", name: String = "nginx", kind: String = "Pod", level: String = "Warning",
        type: String = "BackOff", component: String = "kubelet", describe: String = "back-off restarting", count: Int = 1,
        labels: [String: String] = [:]
    ) -> [String: Any] {
        var metadata: [String: Any] = ["name": "\(name).17a8", "namespace": namespace, "labels": labels]
        if let uid { metadata["uid"] = uid }
        if let rv { metadata["resourceVersion"] = rv }
        return [
            "id": "\(name)-\(uid ?? "x")", "env": "k8s", "kind": kind, "level": level, "component": component, "type": type,
            "describe": describe, "clusterId": cluster, "eventTime": time,
            "extraInfo": ["namespace": namespace, "name": name, "kind": kind],
            "data": ["metadata": metadata, "count": count, "reason": type, "message": describe, "type": level],
        ]
    }

    static func base64(_ object: Any) throws -> String {
        try JSONSerialization.data(withJSONObject: object).base64EncodedString()
            .addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }
}

extension Dictionary where Key == String, Value == Any {
    /// Follows a dotted path through nested dictionaries.
    func at(_ path: String) -> Any? {
        var current: Any? = self
        for part in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(part)]
        }
        return current
    }
}
