import BCSMongo
import Foundation
import NIOHTTP1

/// An upgrade request for one of a pod's streaming subresources (`exec`, `attach`, `portforward`), authorised and resolved.
///
/// Both transports (WebSocket and SPDY) start from the same HTTP/1.1 request head, so the path,
/// query, token and pod checks live here once. A refusal is the `Status` the apiserver would
/// answer (401, 404); kubectl falls back from WebSocket to SPDY on it and prints the SPDY one
/// (kubectl-wire.md §5.1).
struct PodStreamRequest: Sendable {
    let namespace: String
    let name: String
    let subresource: String
    let query: [URLQueryItem]
    let headers: HTTPHeaders
    let pod: BSONDocument

    private static let pods = ResourceCatalog.find(groupVersion: "v1", name: "pods")!

    static func resolve(_ head: HTTPRequestHead, store: ObjectStore, token: String) async -> Result<PodStreamRequest, KubeStatus> {
        guard head.headers["Authorization"].first == "Bearer \(token)" else { return .failure(.unauthorized) }
        // Query values are form-encoded: `+` is a space (`command=exit+3`), a literal plus is `%2B`.
        guard let components = URLComponents(string: head.uri.replacingOccurrences(of: "+", with: "%20")) else { return .failure(.pathNotFound) }
        let segments = components.path.split(separator: "/").map(String.init)
        guard segments.count == 7, segments[0] == "api", segments[1] == "v1", segments[2] == "namespaces", segments[4] == "pods",
              ["exec", "attach", "portforward"].contains(segments[6]) else { return .failure(.pathNotFound) }
        do {
            let pod = try await store.get(pods, namespace: segments[3], name: segments[5])
            return .success(PodStreamRequest(namespace: segments[3], name: segments[5], subresource: segments[6],
                                             query: components.queryItems ?? [], headers: head.headers, pod: pod))
        } catch {
            return .failure(error)
        }
    }

    /// A boolean query parameter: kubectl sends `true`, kubelet-style clients `1`.
    func flag(_ key: String) -> Bool { query.contains { $0.name == key && ($0.value == "true" || $0.value == "1") } }

    func values(_ key: String) -> [String] { query.filter { $0.name == key }.compactMap(\.value) }

    /// A header's values, whether repeated on several lines or comma-joined on one.
    func header(_ name: String) -> [String] {
        headers[name].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
