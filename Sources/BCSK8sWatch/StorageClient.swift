import AsyncHTTPClient
import BCSKube
import Foundation
import NIOCore
import NIOHTTP1

/// The storage role's REST API as the watcher uses it: event batches, dynamic-resource PUT/DELETE/list.
///
/// Either storage directly (`--storage-url http://storage:8080`, paths under `/bcsstorage/v1`) or
/// through the gateway (`--bke-address https://gw --token T`, paths under `/bcsapi/v4/storage`,
/// with the bearer token). The token is sent, never logged.
public struct StorageClient: Sendable, CustomStringConvertible {
    /// The URL every path is appended to: `…/bcsstorage/v1` or `…/bcsapi/v4/storage`.
    public let base: String
    let token: String?
    let httpClient: HTTPClient
    let timeout: Duration

    public init(base: String, token: String?, httpClient: HTTPClient, timeout: Duration = .seconds(30)) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.token = token
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// The base URL only: the token stays out of logs and error messages.
    public var description: String { "StorageClient(\(base)\(token == nil ? "" : ", bearer token"))" }

    /// Storage reached directly: `url` + `/bcsstorage/v1`.
    public static func direct(url: String, httpClient: HTTPClient) -> StorageClient {
        StorageClient(base: trimmed(url) + "/bcsstorage/v1", token: nil, httpClient: httpClient)
    }

    /// Storage reached through the gateway: `address` + `/bcsapi/v4/storage`, with a bearer token.
    public static func gateway(address: String, token: String, httpClient: HTTPClient) -> StorageClient {
        StorageClient(base: trimmed(address) + "/bcsapi/v4/storage", token: token, httpClient: httpClient)
    }

    private static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// How storage answered a write.
    public enum Outcome: Sendable, Equatable {
        case ok
        /// 404 on a DELETE: already gone, which is what was wanted.
        case notFound
        /// A 4xx other than 404/408/429: the request itself is wrong; retrying cannot help.
        case rejected(status: Int, message: String)
        /// 5xx, 408, 429 or a transport error: try again later.
        case retry(reason: String)
    }

    /// `POST /events/batch` with a JSON array of event bodies.
    public func postEvents(_ bodies: [JSONValue]) async -> Outcome {
        do {
            return await send(.POST, "/events/batch", body: try JSONValue.array(bodies).encoded())
        } catch {
            return .rejected(status: 0, message: "cannot encode the batch: \(error)")
        }
    }

    /// `PUT` one object into the dynamic-resource routes, body `{"data": object}`.
    public func putResource(_ path: String, object: JSONValue) async -> Outcome {
        do {
            return await send(.PUT, path, body: try JSONValue.object(["data": object]).encoded())
        } catch {
            return .rejected(status: 0, message: "cannot encode the object: \(error)")
        }
    }

    public func deleteResource(_ path: String) async -> Outcome {
        await send(.DELETE, path, body: nil)
    }

    /// Every stored object of one type in a cluster: (namespace, name, data.metadata.resourceVersion).
    public func listResources(clusterId: String, resourceType: String, pageSize: Int = 1000) async throws -> [StoredResource] {
        var result: [StoredResource] = []
        var offset = 0
        while true {
            let path = "/k8s/dynamic/all_resources/clusters/\(Self.segment(clusterId))/\(Self.segment(resourceType))"
                + "?field=namespace,resourceName,data.metadata.resourceVersion&offset=\(offset)&limit=\(pageSize)"
            let (status, body) = try await get(path)
            guard status == 200 else { throw StorageError("GET \(path) answered \(status): \(String(buffer: body).prefix(200))") }
            let parsed = try JSONValue.parse(body.readableBytesView)
            let items = parsed["data"]?.arrayValue ?? []
            for item in items {
                result.append(StoredResource(namespace: item["namespace"]?.stringValue ?? "", name: item["resourceName"]?.stringValue ?? "",
                                             resourceVersion: item[path: "data", "metadata", "resourceVersion"]?.stringValue))
            }
            offset += items.count
            let total = Int(parsed["total"]?.intValue ?? 0)
            if items.isEmpty || offset >= total { return result }
        }
    }

    /// The path of one object in the dynamic-resource routes (relative to `base`).
    public static func resourcePath(clusterId: String, resource: KubeResource, namespace: String, name: String) -> String {
        if resource.namespaced {
            return "/k8s/dynamic/namespace_resources/clusters/\(segment(clusterId))/namespaces/\(segment(namespace))/\(segment(resource.kind))/\(segment(name))"
        }
        return "/k8s/dynamic/cluster_resources/clusters/\(segment(clusterId))/\(segment(resource.kind))/\(segment(name))"
    }

    static func segment(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? value
    }

    private func request(_ method: HTTPMethod, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        return request
    }

    private func get(_ path: String) async throws -> (Int, ByteBuffer) {
        let response = try await httpClient.execute(request(.GET, path), timeout: .seconds(Int64(timeout.components.seconds)))
        return (Int(response.status.code), try await response.body.collect(upTo: 64 << 20))
    }

    private func send(_ method: HTTPMethod, _ path: String, body: Data?) async -> Outcome {
        var request = request(method, path)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await httpClient.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
            let answer = try await response.body.collect(upTo: 1 << 20)
            let status = Int(response.status.code)
            switch status {
            case 200..<300: return .ok
            case 404 where method == .DELETE: return .notFound
            case 408, 429, 500...: return .retry(reason: "\(method) \(path) answered \(status): \(Self.message(answer))")
            default: return .rejected(status: status, message: Self.message(answer))
            }
        } catch {
            return .retry(reason: "\(method) \(path) failed: \(error)")
        }
    }

    private static func message(_ body: ByteBuffer) -> String {
        (try? JSONValue.parse(body.readableBytesView))?["message"]?.stringValue ?? String(String(buffer: body).prefix(200))
    }
}

/// One object as storage holds it, for reconciliation.
public struct StoredResource: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var resourceVersion: String?
}

/// A storage answer the watcher cannot use.
public struct StorageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
