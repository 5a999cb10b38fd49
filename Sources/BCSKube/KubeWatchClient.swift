import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// List and watch of one apiserver, the two calls every Kubernetes controller is built from.
///
/// `list` pages with `limit`/`continue` and returns the list's `resourceVersion`; `watch` opens a
/// `watch=1` stream from a resourceVersion with `allowWatchBookmarks=true` and yields one event per
/// line (lines are split with NIO's `splitLines()`, so an event spanning chunks arrives whole, and a
/// line longer than `maximumLineBytes` is an error rather than unbounded buffering). A
/// resourceVersion the apiserver no longer remembers surfaces as `KubeAPIError.isGone` (HTTP 410) or
/// as `.expired` inside the stream (the watch cache's 200 + ERROR answer): either way the caller
/// must list again. The token is read from the connection for every request (projected tokens
/// rotate) and is never logged or put into an error.
public struct KubeWatchClient: Sendable {
    public let connection: KubeConnection
    public let httpClient: HTTPClient
    /// The longest watch line (one object) accepted; the apiserver's own object limit is 1.5 MiB.
    public var maximumLineBytes: Int
    /// Deadline of a list request.
    public var requestTimeout: Duration

    public init(connection: KubeConnection, httpClient: HTTPClient, maximumLineBytes: Int = 4 << 20, requestTimeout: Duration = .seconds(60)) {
        self.connection = connection
        self.httpClient = httpClient
        self.maximumLineBytes = maximumLineBytes
        self.requestTimeout = requestTimeout
    }

    /// One page of a list.
    public struct ListPage: Sendable {
        public var items: [JSONValue]
        public var resourceVersion: String
        /// Non-nil when more pages follow.
        public var continueToken: String?
    }

    /// One page of `resource` (in `namespace`, or all namespaces when nil).
    public func listPage(_ resource: KubeResource, namespace: String?, limit: Int, continueToken: String? = nil) async throws -> ListPage {
        var query = ["limit=\(limit)"]
        if let continueToken { query.append("continue=" + Self.escapeQuery(continueToken)) }
        let body = try await send(resource.collectionPath(namespace: namespace) + "?" + query.joined(separator: "&"))
        let list = try JSONValue.parse(body.readableBytesView)
        guard let metadata = list["metadata"], let version = metadata["resourceVersion"]?.stringValue else {
            throw KubeAPIError(status: 200, reason: "BadList", message: "the list of \(resource.plural) has no metadata.resourceVersion")
        }
        let token = metadata["continue"]?.stringValue
        return ListPage(items: list["items"]?.arrayValue ?? [], resourceVersion: version, continueToken: (token?.isEmpty ?? true) ? nil : token)
    }

    /// Every object of `resource`, page by page, and the resourceVersion to watch from.
    ///
    /// The first page's resourceVersion is returned: later pages may be newer, and a watch from the
    /// older version replays those changes, which idempotent consumers absorb. `onPage` receives
    /// each page as it arrives so a caller need not hold the whole list.
    public func list(_ resource: KubeResource, namespace: String?, pageSize: Int = 500,
                     onPage: ([JSONValue]) async throws -> Void) async throws -> String {
        var restarts = 0
        while true {
            var page = try await listPage(resource, namespace: namespace, limit: pageSize)
            let version = page.resourceVersion
            try await onPage(page.items)
            do {
                while let token = page.continueToken {
                    page = try await listPage(resource, namespace: namespace, limit: pageSize, continueToken: token)
                    try await onPage(page.items)
                }
                return version
            } catch let error as KubeAPIError where error.isGone && restarts < 3 {
                // The continue token expired: start over rather than return a partial list.
                restarts += 1
            }
        }
    }

    /// One object, or nil when it does not exist.
    public func get(_ resource: KubeResource, namespace: String?, name: String) async throws -> JSONValue? {
        do {
            return try JSONValue.parse(try await send(resource.objectPath(namespace: namespace, name: name)).readableBytesView)
        } catch let error as KubeAPIError where error.status == 404 {
            return nil
        }
    }

    /// Watches `resource` from `resourceVersion` (nil or "0": the current state as ADDED, then
    /// changes), handing the stream to `body`; the connection closes when `body` returns or throws.
    ///
    /// The server ends the stream after `timeoutSeconds`; the request's own deadline is 30 s later,
    /// so a connection that died silently is noticed.
    public func watch<Result>(_ resource: KubeResource, namespace: String?, resourceVersion: String?, timeoutSeconds: Int = 300,
                              bookmarks: Bool = true, body: (KubeWatchStream) async throws -> Result) async throws -> Result {
        var query = ["watch=1", "timeoutSeconds=\(timeoutSeconds)"]
        if bookmarks { query.append("allowWatchBookmarks=true") }
        if let resourceVersion, !resourceVersion.isEmpty { query.append("resourceVersion=" + Self.escapeQuery(resourceVersion)) }
        return try await KubeWatchConnection.open(
            connection, pathAndQuery: resource.collectionPath(namespace: namespace) + "?" + query.joined(separator: "&"),
            headers: try requestHeaders(), maximumLineBytes: maximumLineBytes, deadline: .seconds(Int64(timeoutSeconds) + 30), body: body)
    }

    private func makeRequest(_ pathAndQuery: String) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: connection.server + pathAndQuery)
        request.method = .GET
        request.headers = try requestHeaders()
        return request
    }

    /// What every request to the apiserver carries: JSON, our name, and the current token.
    private func requestHeaders() throws -> HTTPHeaders {
        var headers: HTTPHeaders = ["Accept": "application/json", "User-Agent": "bcs"]
        if let token = try connection.currentToken() { headers.add(name: "Authorization", value: "Bearer " + token) }
        return headers
    }

    private func send(_ pathAndQuery: String) async throws -> ByteBuffer {
        let response = try await httpClient.execute(try makeRequest(pathAndQuery), timeout: .seconds(Int64(requestTimeout.seconds)))
        let body = try await response.body.collect(upTo: 256 << 20)
        guard response.status == .ok else { throw KubeAPIError(status: Int(response.status.code), body: body) }
        return body
    }

    static func escapeQuery(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? value
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
