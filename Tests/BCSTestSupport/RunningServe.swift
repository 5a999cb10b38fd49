import AsyncHTTPClient
import BCSCore
import BCSServer
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// A `bcs serve` process run in-process on port 0, with the root supervisor under the test's control.
public struct RunningServe: Sendable {
    public let group: ServiceGroup
    public let port: Int
    public let task: Task<Result<Void, any Error>, Never>

    public var base: String { "http://127.0.0.1:\(port)" }

    public static func start(
        mongoURI: String? = nil,
        flags: [String: String] = [:],
        handleSignals: Bool = false,
        customise: (inout ServeProcess) -> Void = { _ in }
    ) async throws -> RunningServe {
        MetricsBootstrap.bootstrap()
        var allFlags = [
            "listen": "127.0.0.1:0", "readiness-interval": "0.2", "mongodb-uri": try mongoURI ?? TestEnvironment.mongoURI(),
            "secret-key": "test-secret-0123456789abcdef0123456789abcdef",
        ]
        allFlags.merge(flags) { _, new in new }
        let configuration = try ServeConfiguration.resolve(LayeredSettings(flags: allFlags, environment: [:]))
        var process = ServeProcess(configuration: configuration, logger: Logger(label: "test.serve"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        process.onServerRunning = { continuation.yield($0) }
        customise(&process)
        let group = try process.makeServiceGroup(handleSignals: handleSignals)
        let task = Task { () -> Result<Void, any Error> in
            do { try await group.run(); return .success(()) } catch { return .failure(error) }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return RunningServe(group: group, port: port, task: task)
    }

    public func get(_ path: String, timeout: Duration = .seconds(30)) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(Int64(timeout.seconds)))
        let body = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Triggers graceful shutdown and waits for the root group to finish.
    public func stop() async -> Result<Void, any Error> {
        await group.triggerGracefulShutdown()
        return await task.value
    }
}


/// One HTTP exchange with a running server, with the body parsed as JSON when it is JSON.
public struct HTTPResult: Sendable {
    public let status: Int
    public let body: String

    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }

    /// The BCS envelope's fields (`result`, `code`, `message`, `data`, `total`), when the body is one.
    public var json: [String: any Sendable]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: any Sendable]
    }
    public var code: Int? { json?["code"] as? Int }
    public var data: Any? { json?["data"] }
    public var list: [[String: Any]] { (json?["data"] as? [[String: Any]]) ?? [] }
    public var total: Int? { json?["total"] as? Int }
    public var message: String { (json?["message"] as? String) ?? "" }
}

extension RunningServe {
    /// Sends `method path` with an optional body (a JSON string or any JSON-serialisable value).
    public func send(_ method: HTTPMethod, _ path: String, body: Any? = nil, token: String? = nil, timeout: Duration = .seconds(60)) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            let data: Data
            if let text = body as? String { data = Data(text.utf8) } else { data = try JSONSerialization.data(withJSONObject: body) }
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout.seconds)))
        let collected = try await response.body.collect(upTo: 64 << 20)
        return HTTPResult(status: Int(response.status.code), body: String(buffer: collected))
    }
}

/// Polls `condition` until it holds, recording an issue if it never does within `limit`.
public func eventually(
    within limit: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(limit)", sourceLocation: sourceLocation)
}
