import AsyncHTTPClient
import BCSTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The gateway's direct mode: a registered cluster's reported apiserver reached through
/// `/tunnels/clusters/{id}/…`, authorised per request, errors as Kubernetes `Status`.
@Suite("gateway: direct-mode proxy")
struct GatewayProxyTests {
    static let admin = "GatewayAdminToken0123456789abcdX"

    /// `bcs serve --roles usermanager,gateway` in process with a bootstrap admin.
    struct Gateway {
        let serve: RunningServe

        static func start(flags: [String: String] = [:]) async throws -> Gateway {
            var all = ["roles": "usermanager,gateway", "database": TestEnvironment.uniqueName("gateway"), "bootstrap-admin": "admin:\(GatewayProxyTests.admin)"]
            all.merge(flags) { _, new in new }
            return Gateway(serve: try await RunningServe.start(flags: all))
        }

        func call(_ method: HTTPMethod, _ path: String, token: String? = GatewayProxyTests.admin, body: String? = nil) async throws -> HTTPResult {
            var request = HTTPClientRequest(url: serve.base + path)
            request.method = method
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body { request.body = .bytes(ByteBuffer(string: body)); request.headers.add(name: "Content-Type", value: "application/json") }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            return HTTPResult(status: Int(response.status.code), body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }

        /// Sends `bytes` on a new connection and returns all it receives until the gateway closes it
        /// (or 15 s pass: a relay that lost track of framing would leave the client waiting).
        func raw(_ bytes: String) async throws -> String {
            let port = try #require(URL(string: serve.base)?.port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            let deadline = channel.channel.eventLoop.scheduleTask(in: .seconds(15)) { channel.channel.close(promise: nil) }
            defer { deadline.cancel() }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: bytes))
                var all = ""
                for try await chunk in inbound { all += String(buffer: chunk) }
                return all
            }
        }

        /// Registers a cluster and reports its credentials as the BCS documentation and the agent do.
        func register(_ id: String, addresses: String, ca: String) async throws {
            // The user-manager's start-up work (indexes, seeded roles) can take a while on a busy test server.
            try await eventually(within: .seconds(30)) { try await call(.POST, "/bcsapi/v4/usermanager/v1/clusters", body: #"{"cluster_id":"\#(id)","cluster_type":"k8s"}"#).code == 0 }
            let registerToken = try #require((try await call(.POST, "/bcsapi/v4/usermanager/v1/clusters/\(id)/register_tokens").data as? [String: Any])?["token"] as? String)
            let report = try JSONSerialization.data(withJSONObject: [
                "register_token": registerToken, "server_addresses": addresses, "cacert_data": ca, "user_token": "sa-token-of-the-cluster",
            ])
            #expect(try await call(.PUT, "/bcsapi/v4/usermanager/v1/clusters/\(id)/credentials", token: nil, body: String(decoding: report, as: UTF8.self)).code == 0)
        }
    }

    @Test func proxiesAuthorisesAndStreams() async throws {
        let upstream = try await FakeAPIServer.start()
        let gateway = try await Gateway.start()
        let serve = gateway.serve
        func call(_ method: HTTPMethod, _ path: String, token: String? = GatewayProxyTests.admin, body: String? = nil) async throws -> HTTPResult {
            try await gateway.call(method, path, token: token, body: body)
        }
        try await gateway.register("BCS-K8S-001", addresses: "https://127.0.0.1:\(upstream.port)", ca: upstream.caPEM)

        // Through the gateway: the cluster's token replaces the caller's; path and query are kept.
        try await eventually(within: .seconds(30)) { try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces?limit=5").status == 200 }
        let echoed = try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces?limit=5")
        let echo = try #require(echoed.json as? [String: String])
        #expect(echo["authorization"] == "Bearer sa-token-of-the-cluster", "the caller's token never reaches the cluster")
        #expect(echo["path"] == "/api/v1/namespaces" && echo["query"] == "limit=5")
        #expect(try await call(.GET, "/clusters/BCS-K8S-001/api/v1/namespaces").status == 200, "the /clusters alias")
        let created = try await call(.POST, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces/default/configmaps", body: #"{"kind":"ConfigMap"}"#)
        #expect(created.status == 201 && created.body == #"{"kind":"ConfigMap"}"#, "request bodies are relayed")
        let upstreamStatus = try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces/missing")
        #expect(upstreamStatus.status == 404 && upstreamStatus.body.contains("NotFound"), "the apiserver's own errors pass through")

        // A streamed response reaches the client chunk by chunk, not when the upstream finishes.
        var request = HTTPClientRequest(url: serve.base + "/tunnels/clusters/BCS-K8S-001/api/v1/pods?watch=1")
        request.headers.add(name: "Authorization", value: "Bearer \(Self.admin)")
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        var iterator = response.body.makeAsyncIterator()
        let first = try await iterator.next()
        #expect(first.map { String(buffer: $0) } == "{\"type\":\"ADDED\"}\n")
        #expect(clock.now - start < .milliseconds(1200), "the first event arrived before the upstream finished")
        var rest = ""
        while let chunk = try await iterator.next() { rest += String(buffer: chunk) }
        #expect(rest == "{\"type\":\"MODIFIED\"}\n")

        // Errors are Kubernetes Status objects.
        let noToken = try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces", token: nil)
        #expect(noToken.status == 401 && noToken.json?["kind"] as? String == "Status" && noToken.json?["reason"] as? String == "Unauthorized")
        #expect(try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces", token: "wrong-token").status == 401)
        let unknown = try await call(.GET, "/tunnels/clusters/BCS-K8S-404/api/v1/namespaces")
        #expect(unknown.status == 404 && unknown.json?["reason"] as? String == "NotFound")
        let traversal = try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/../../usermanager/v1/clusters")
        #expect(traversal.status == 400 || traversal.status == 404, "no way out of the cluster prefix: \(traversal.status)")

        // Per-cluster permissions: a plain user needs a grant; viewer allows GET only.
        let plain = try #require((try await call(.POST, "/bcsapi/v4/usermanager/v1/users/plain/alice").data as? [String: Any])?["user_token"] as? String)
        let denied = try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces", token: plain)
        #expect(denied.status == 403 && denied.json?["reason"] as? String == "Forbidden")
        let grant = #"{"apiVersion":"v1","kind":"permission","metadata":{"name":"g"},"spec":{"permissions":[{"user_name":"alice","resource_type":"cluster","resource":"BCS-K8S-001","role":"viewer"}]}}"#
        #expect(try await call(.POST, "/bcsapi/v4/usermanager/v1/permissions", body: grant).code == 0)
        // Decisions are cached for 2 s, so the grant takes effect within that (the project allows 5 s).
        try await eventually(within: .seconds(8)) { try await call(.GET, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces", token: plain).status == 200 }
        #expect(try await call(.POST, "/tunnels/clusters/BCS-K8S-001/api/v1/namespaces/default/configmaps", token: plain, body: "{}").status == 403, "viewer may not write")

        // Every proxied request is audited; the audit also feeds per-cluster request metrics.
        let metrics = try await serve.get("/metrics").body
        #expect(metrics.contains(#"bcs_gateway_requests_total{cluster="BCS-K8S-001",code="200"}"#))
        #expect(metrics.contains(#"bcs_gateway_requests_total{cluster="BCS-K8S-001",code="401"}"#))
        #expect(metrics.contains(#"bcs_gateway_requests_total{cluster="BCS-K8S-001",code="403"}"#))

        _ = await serve.stop()
        await upstream.stop()
    }

    /// Plain GETs with a cached access decision are carried on the connection's event loop; they
    /// answer exactly as the ordinary path does, keep a connection's requests in order (pipelined
    /// ones included) and give way to the ordinary path for anything else.
    /// An apiserver that answers before reading a request's body, while the client is still
    /// sending it: the answer is relayed and the gateway lives on (the gateway runs in this test
    /// process, which once stopped here: the server and the HTTP client both read the one body).
    @Test func anEarlyAnswerToASlowBodyKeepsTheGatewayUp() async throws {
        let upstream = try await FakeAPIServer.start()
        let gateway = try await Gateway.start()
        try await gateway.register("BCS-K8S-EARLY", addresses: "https://127.0.0.1:\(upstream.port)", ca: upstream.caPEM)
        try await eventually(within: .seconds(30)) { try await gateway.call(.GET, "/tunnels/clusters/BCS-K8S-EARLY/api/v1/namespaces").status == 200 }
        let port = try #require(URL(string: gateway.serve.base)?.port)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        let length = 256 << 10
        let head = "POST /tunnels/clusters/BCS-K8S-EARLY/api/v1/namespaces/default/secrets HTTP/1.1\r\nHost: gateway\r\n"
            + "Authorization: Bearer \(Self.admin)\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\nConnection: close\r\n\r\n"
        let received = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: head + String(repeating: " ", count: 1024)))
            try await Task.sleep(for: .milliseconds(1500))
            try await outbound.write(ByteBuffer(string: String(repeating: " ", count: length - 1024)))
            var all = ""
            for try await chunk in inbound { all += String(buffer: chunk) }
            return all
        }
        #expect(received.hasPrefix("HTTP/1.1 403") && received.contains("Forbidden"), "\(received)")
        #expect(try await gateway.call(.GET, "/tunnels/clusters/BCS-K8S-EARLY/api/v1/namespaces").status == 200)
        // Bodies are bounded: over the limit is a 413 `Status`, before anything reaches the cluster.
        let huge = String(repeating: "x", count: (8 << 20) + 1)  // the limit is 8 MiB
        let refused = try await gateway.call(.POST, "/tunnels/clusters/BCS-K8S-EARLY/api/v1/namespaces/default/configmaps", body: huge)
        #expect(refused.status == 413 && refused.json?["reason"] as? String == "RequestEntityTooLarge", "\(refused.status) \(refused.body.prefix(300))")
        _ = await gateway.serve.stop()
    }

    @Test func fastPathCarriesRepeatedGetsInOrder() async throws {
        let upstream = try await FakeAPIServer.start()
        let gateway = try await Gateway.start()
        try await gateway.register("BCS-K8S-FAST", addresses: "https://127.0.0.1:\(upstream.port)", ca: upstream.caPEM)
        let path = "/tunnels/clusters/BCS-K8S-FAST/api/v1/namespaces?limit=7"
        try await eventually(within: .seconds(30)) { try await gateway.call(.GET, path).status == 200 }
        func fastCount() async throws -> Int {
            let status = try await gateway.call(.GET, "/gateway/v1/clusters").list.first { $0["cluster_id"] as? String == "BCS-K8S-FAST" }
            return try #require(status?["fast_path_requests"] as? Int)
        }
        let before = try await fastCount()
        for _ in 0..<20 {
            let answer = try await gateway.call(.GET, path)
            let echo = try #require(answer.json as? [String: String])
            #expect(answer.status == 200 && echo["authorization"] == "Bearer sa-token-of-the-cluster" && echo["query"] == "limit=7")
        }
        // The decision cache lives 2 s: a slow machine may send a few through the ordinary path.
        #expect(try await fastCount() - before >= 10, "repeated GETs take the fast path")
        // Refusals and other verbs still take the ordinary path and answer as before.
        #expect(try await gateway.call(.GET, path, token: "wrong-token").status == 401)
        #expect(try await gateway.call(.GET, "/tunnels/clusters/BCS-K8S-FAST/api/v1/namespaces/missing").status == 404)

        // Three requests in one write on one connection: fast, ordinary (a POST), fast. Answers come in order.
        let port = try #require(URL(string: gateway.serve.base)?.port)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        let auth = "Authorization: Bearer \(Self.admin)\r\nHost: gateway\r\n"
        let body = #"{"kind":"ConfigMap","n":2}"#
        let pipelined = "GET /tunnels/clusters/BCS-K8S-FAST/api/v1/namespaces?limit=1 HTTP/1.1\r\n\(auth)\r\n"
            + "POST /tunnels/clusters/BCS-K8S-FAST/api/v1/namespaces/default/configmaps HTTP/1.1\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            + "GET /tunnels/clusters/BCS-K8S-FAST/api/v1/namespaces?limit=3 HTTP/1.1\r\n\(auth)Connection: close\r\n\r\n"
        let received = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: pipelined))
            var all = ""
            for try await chunk in inbound { all += String(buffer: chunk) }
            return all
        }
        let limit1 = try #require(received.range(of: #""query":"limit=1""#))
        let posted = try #require(received.range(of: body))
        let limit3 = try #require(received.range(of: #""query":"limit=3""#))
        #expect(limit1.lowerBound < posted.lowerBound && posted.lowerBound < limit3.lowerBound, "answers in request order: \(received)")
        #expect(received.components(separatedBy: "HTTP/1.1 200").count == 3 && received.contains("HTTP/1.1 201"), "\(received)")
        // Fast and ordinary answers alike name the gateway as `Server`, not the apiserver.
        #expect(received.components(separatedBy: "\r\nServer: bcs/").count == 4 && !received.contains("fake-apiserver"), "\(received)")

        // A client that half-closes right after its GET still gets the answer (the fast path reads on
        // while it runs, so it sees the end of input before the answer is sent).
        let halfClosing = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            }
        }
        let answered = try await halfClosing.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET /tunnels/clusters/BCS-K8S-FAST/api/v1/namespaces?limit=5 HTTP/1.1\r\n\(auth)\r\n"))
            outbound.finish()
            var all = ""
            for try await chunk in inbound { all += String(buffer: chunk) }
            return all
        }
        #expect(answered.hasPrefix("HTTP/1.1 200") && answered.contains(#""query":"limit=5""#), "\(answered)")

        // A new token in a credential report reaches the next fast-path request.
        let registerToken = try #require((try await gateway.call(.GET, "/bcsapi/v4/usermanager/v1/clusters/BCS-K8S-FAST/register_tokens").data as? [String: Any])?["token"] as? String)
        let report = try JSONSerialization.data(withJSONObject: [
            "register_token": registerToken, "server_addresses": "https://127.0.0.1:\(upstream.port)", "cacert_data": upstream.caPEM, "user_token": "rotated-token",
        ])
        #expect(try await gateway.call(.PUT, "/bcsapi/v4/usermanager/v1/clusters/BCS-K8S-FAST/credentials", token: nil, body: String(decoding: report, as: UTF8.self)).code == 0)
        try await eventually(within: .seconds(10)) {
            (try await gateway.call(.GET, path).json as? [String: String])?["authorization"] == "Bearer rotated-token"
        }

        // The apiserver goes away: the fast path gives way and the ordinary path answers 502 at once.
        await upstream.stop()
        let clock = ContinuousClock()
        let started = clock.now
        let gone = try await gateway.call(.GET, path)
        #expect(gone.status == 502 && gone.json?["kind"] as? String == "Status", "\(gone.status) \(gone.body)")
        // A refused connection is answered at once, not after the 2 s connect deadline.
        #expect(clock.now - started < .seconds(2))
        _ = await gateway.serve.stop()
    }

    /// HTTP/1.1 requests are read as bytes ahead of the parser (`HTTP1WireLane`): plain GETs are
    /// relayed as wire bytes, everything else passes to the parser whole, and the lane finds each
    /// next request by following the framing of the one before.
    @Test func wireLaneRelaysBytesAndFollowsFraming() async throws {
        let upstream = try await FakeAPIServer.start()
        let gateway = try await Gateway.start()
        try await gateway.register("BCS-K8S-WIRE", addresses: "https://127.0.0.1:\(upstream.port)", ca: upstream.caPEM)
        let prefix = "/tunnels/clusters/BCS-K8S-WIRE"
        try await eventually(within: .seconds(30)) { try await gateway.call(.GET, prefix + "/api/v1/namespaces").status == 200 }
        let exchange = gateway.raw
        let auth = "Authorization: Bearer \(Self.admin)\r\nHost: gateway\r\n"
        let body = #"{"kind":"ConfigMap","n":3}"#
        let chunkedBody = "5;ext=1\r\n\(body.prefix(5))\r\n\(String(body.utf8.count - 5, radix: 16))\r\n\(body.dropFirst(5))\r\n0\r\n\r\n"
        // A streamed (chunked) answer relayed as it came, a chunked POST the parser gets whole, and
        // GETs after each, all in one write: every answer arrives, in order, framed as sent.
        let received = try await exchange(
            "GET \(prefix)/api/v1/pods HTTP/1.1\r\n\(auth)\r\n"
                + "POST \(prefix)/api/v1/namespaces/default/configmaps HTTP/1.1\r\n\(auth)Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\(chunkedBody)"
                + "GET \(prefix)/api/v1/namespaces?limit=2 HTTP/1.1\r\n\(auth)\r\n"
                + "GET \(prefix)/api/v1/namespaces?limit=4 HTTP/1.1\r\n\(auth)Connection: close\r\n\r\n")
        let added = try #require(received.range(of: #"{"type":"ADDED"}"#))
        let modified = try #require(received.range(of: #"{"type":"MODIFIED"}"#))
        let posted = try #require(received.range(of: body))
        let limit2 = try #require(received.range(of: #""query":"limit=2""#))
        let limit4 = try #require(received.range(of: #""query":"limit=4""#))
        #expect(added.upperBound < modified.lowerBound && modified.upperBound < posted.lowerBound && posted.upperBound < limit2.lowerBound
            && limit2.upperBound < limit4.lowerBound, "\(received)")
        #expect(received.hasPrefix("HTTP/1.1 200 OK\r\n") && received.lowercased().contains("transfer-encoding: chunked"), "\(received)")
        #expect(received.components(separatedBy: "\r\nServer: bcs/").count == 5 && !received.contains("fake-apiserver"), "\(received)")
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: gateway.serve.base + "/metrics"), timeout: .seconds(10))
        let exposition = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        let wire = exposition.split(separator: "\n").first { $0.hasPrefix("bcs_gateway_fast_path_wire_requests_total ") }
        #expect((wire.flatMap { Int($0.split(separator: " ")[1]) } ?? 0) >= 2, "the plain GETs took the wire lane: \(wire ?? "no counter")")

        // A head the lane will not read (a space before a colon: a smuggling trick) goes to the
        // parser, which refuses it (an answer of 400, or the connection closed); the requests
        // before it on the connection are answered first.
        let refused = try await exchange("GET \(prefix)/api/v1/namespaces?limit=6 HTTP/1.1\r\n\(auth)\r\nGET \(prefix)/api/v1/namespaces HTTP/1.1\r\nContent-Length : 4\r\n\(auth)\r\nabcd")
        #expect(refused.hasPrefix("HTTP/1.1 200") && refused.contains(#""query":"limit=6""#), "\(refused)")
        #expect(refused.components(separatedBy: "HTTP/1.1 200").count == 2 && refused.components(separatedBy: #""path":"#).count == 2, "\(refused)")
        _ = await gateway.serve.stop()
        await upstream.stop()
    }

    /// An answer whose body ends with the apiserver's connection (no length, no chunks): the wire
    /// lane relays it with `Connection: close` and closes the client's connection when it ends.
    @Test func anAnswerEndedByItsConnectionEndsTheClients() async throws {
        let upstream = try await CloseDelimitedUpstream.start()
        let gateway = try await Gateway.start()
        try await gateway.register("BCS-K8S-CLOSE", addresses: "https://127.0.0.1:\(upstream.port)", ca: upstream.caPEM)
        let path = "/tunnels/clusters/BCS-K8S-CLOSE/api/v1/namespaces"
        try await eventually(within: .seconds(30)) { try await gateway.call(.GET, path).body == CloseDelimitedUpstream.body }
        let clock = ContinuousClock()
        let started = clock.now
        let answer = try await gateway.raw("GET \(path) HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer \(Self.admin)\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("\r\nConnection: close\r\n") && answer.hasSuffix("\r\n\r\n" + CloseDelimitedUpstream.body), "\(answer)")
        #expect(clock.now - started < .seconds(10), "the client's connection closed with the answer")
        _ = await gateway.serve.stop()
        await upstream.stop()
    }

    /// Storage through the public front: a token, and a `storage` permission for the verb.
    @Test func storageThroughTheGatewayNeedsAStoragePermission() async throws {
        let gateway = try await Gateway.start(flags: ["roles": "usermanager,gateway,storage"])
        let path = "/bcsapi/v4/storage/events?clusterId=BCS-K8S-009&length=1"
        try await eventually(within: .seconds(30)) { try await gateway.call(.GET, path).status == 200 }
        #expect(try await gateway.call(.GET, path, token: nil).status == 401, "no token")
        #expect(try await gateway.call(.GET, path, token: "not-a-token").status == 401, "a bad token")
        let bob = try #require((try await gateway.call(.POST, "/bcsapi/v4/usermanager/v1/users/plain/bob").data as? [String: Any])?["user_token"] as? String)
        #expect(try await gateway.call(.GET, path, token: bob).status == 403, "a user without a storage permission")
        let grant = #"{"apiVersion":"v1","kind":"permission","metadata":{"name":"s"},"spec":{"permissions":[{"user_name":"bob","resource_type":"storage","resource":"BCS-K8S-009","role":"viewer"}]}}"#
        #expect(try await gateway.call(.POST, "/bcsapi/v4/usermanager/v1/permissions", body: grant).code == 0)
        try await eventually(within: .seconds(8)) { try await gateway.call(.GET, path, token: bob).status == 200 }
        #expect(try await gateway.call(.GET, "/bcsapi/v4/storage/events?clusterId=BCS-K8S-OTHER", token: bob).status == 403, "another cluster's events")
        let batch = #"[{"env":"k8s","kind":"Pod","level":"Normal","component":"c","type":"Started","describe":"d","clusterId":"BCS-K8S-009","eventTime":"2026-11-27T00:00:00Z","extraInfo":{"namespace":"default","name":"p","kind":"Pod"},"data":{"metadata":{"uid":"u-1","resourceVersion":"1"}}}]"#
        #expect(try await gateway.call(.POST, "/bcsapi/v4/storage/events/batch", token: bob, body: batch).status == 403, "a viewer does not write")
        // The storage role's own path stays internal and unauthenticated, as bcs-storage's is.
        #expect(try await gateway.serve.get("/bcsstorage/v1/events?clusterId=BCS-K8S-009&length=1").status == 200)
        _ = await gateway.serve.stop()
    }

    @Test func probesHealthFailsOverAndReportsStatus() async throws {
        let upstream = try await FakeAPIServer.start()
        let closed = try freePort()
        let gateway = try await Gateway.start(flags: ["gateway-probe-interval": "0.3"])
        try await gateway.register("BCS-K8S-002", addresses: "https://127.0.0.1:\(closed);https://127.0.0.1:\(upstream.port)", ca: upstream.caPEM)

        func status() async throws -> [String: Any]? {
            try await gateway.call(.GET, "/gateway/v1/clusters").list.first { $0["cluster_id"] as? String == "BCS-K8S-002" }
        }
        try await eventually(within: .seconds(30)) { try await status()?["state"] as? String == "Degraded" }
        let degraded = try #require(try await status())
        #expect((degraded["reason"] as? String)?.contains("127.0.0.1:\(closed)") == true, "\(degraded)")
        #expect(degraded["preferred_address"] as? String == "https://127.0.0.1:\(upstream.port)")
        #expect(try await gateway.call(.GET, "/tunnels/clusters/BCS-K8S-002/api/v1/namespaces").status == 200, "requests go to the address that answers")
        #expect(try await gateway.serve.get("/metrics").body.contains("bcs_gateway_cluster_up{cluster=\"BCS-K8S-002\"} 1"))
        #expect(try await gateway.call(.GET, "/gateway/v1/clusters", token: nil).status == 401)

        await upstream.stop()
        try await eventually(within: .seconds(30)) { try await status()?["state"] as? String == "Unreachable" }
        let down = try await gateway.call(.GET, "/tunnels/clusters/BCS-K8S-002/api/v1/namespaces")
        #expect(down.status == 502 && down.json?["kind"] as? String == "Status", "\(down.body)")
        #expect(try await gateway.serve.get("/metrics").body.contains("bcs_gateway_cluster_up{cluster=\"BCS-K8S-002\"} 0"))
        _ = await gateway.serve.stop()
    }
}
