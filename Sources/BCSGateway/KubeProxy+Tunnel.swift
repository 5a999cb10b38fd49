import BCSCore
import BCSTunnel
import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTP1

extension KubeProxy {
    /// Sends a request through the cluster's agent tunnel: each request is one HTTP/2 stream, the
    /// agent forwards it to its own apiserver with its own token, and the answer streams back with
    /// per-stream flow control. Upgrades are spliced to the stream byte for byte.
    func proxyThroughTunnel(
        _ request: Request, context: BCSRequestContext, target: Target, caller: Caller, session: TunnelSession,
        upgrade: Bool, started: ContinuousClock.Instant
    ) async throws -> Response {
        let head = Self.tunnelRequest(request.method, path: target.upstreamURI, headers: request.headers,
                                      identity: identityHeaders(of: caller, from: request.headers), upgrade: upgrade)
        if upgrade {
            return try await tunnelUpgrade(head, request: request, context: context, target: target, caller: caller, session: session, started: started)
        }
        let hasBody = Self.hasBody(request)
        let response: TunnelResponse
        do {
            response = hasBody ? try await session.send(head, body: request.body) : try await session.send(head)
        } catch TunnelError.sessionDraining {
            throw TunnelError.sessionDraining  // nothing sent: the caller tries another session
        } catch {
            audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath, status: 503, bytes: 0, started: started)
            throw KubeStatus.unavailable("cluster \(target.clusterID): the agent tunnel failed: \(error)")
        }
        var headers = HTTPFields()
        for field in response.head.headerFields where !Self.droppedResponseHeaders.contains(field.name.canonicalName) { headers.append(field) }
        let (audit, verb, status, clusterID, path) = (self.audit, request.method.rawValue, response.head.status.code, target.clusterID, target.subPath)
        let streaming = Self.isStreaming(query: target.query)
        if !streaming, let length = response.head.headerFields[.contentLength].flatMap(Int.init), length <= Self.bufferedResponseLimit {
            // As in direct mode: a small answer of known size is written once, with its head.
            let body = try await response.body.collect(upTo: Self.bufferedResponseLimit)
            audit.record(user: caller.user, cluster: clusterID, verb: verb, path: path, status: status, bytes: body.readableBytes, started: started)
            return Response(status: response.head.status, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        let body = audit.counting(response.body) { bytes in
            audit.record(user: caller.user, cluster: clusterID, verb: verb, path: path, status: status, bytes: bytes, started: started)
        }
        let watcher = streaming ? context.channel : nil
        return Response(status: response.head.status, headers: headers, body: Self.responseBody(body, cancelOnDisconnectOf: watcher))
    }

    /// The request to send as a tunnel stream: the client's fields minus hop-by-hop ones and
    /// credentials, plus the caller's identity. Shared with the event-loop fast path.
    static func tunnelRequest(_ method: HTTPRequest.Method, path: String, headers: HTTPFields, identity: [(String, String)],
                              upgrade: Bool) -> HTTPRequest {
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count + identity.count)
        let dropped = upgrade ? droppedUpgradeHeaders : droppedRequestHeaders
        for field in headers where !dropped.contains(field.name.canonicalName) {
            // An upgrade's stream carries raw bytes after the 101; a `Content-Length: 0` (kubectl's
            // SPDY POST) would make HTTP/2 reject them as body beyond the declared length.
            if upgrade, field.name == .contentLength { continue }
            fields.append(field)
        }
        for (name, value) in identity {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        return HTTPRequest(method: method, scheme: "https", authority: "kubernetes", path: path, headerFields: fields)
    }

    private func tunnelUpgrade(
        _ head: HTTPRequest, request: Request, context: BCSRequestContext, target: Target, caller: Caller, session: TunnelSession,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        let outcome: TunnelUpgradeResult
        do {
            outcome = try await session.upgrade(head)
        } catch TunnelError.sessionDraining {
            throw TunnelError.sessionDraining
        } catch {
            audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath, status: 503, bytes: 0, started: started)
            throw KubeStatus.unavailable("cluster \(target.clusterID): the agent tunnel failed: \(error)")
        }
        switch outcome {
        case .refused(let answer, let body):
            audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath,
                         status: answer.status.code, bytes: body.readableBytes, started: started)
            var headers = HTTPFields()
            for field in answer.headerFields where !Self.droppedResponseHeaders.contains(field.name.canonicalName) && field.name != .contentLength {
                headers.append(field)
            }
            return Response(status: answer.status, headers: headers, body: .init(byteBuffer: body))
        case .switched(let answer, let stream):
            let front = context.channel
            let (audit, verb, clusterID, path) = (self.audit, request.method.rawValue, target.clusterID, target.subPath)
            let pair = ChannelSplice.Pair(front, stream) { fromClient, fromCluster in
                audit.record(user: caller.user, cluster: clusterID, verb: verb, path: path, status: 101, bytes: fromCluster,
                             bytesIn: fromClient, started: started, upgraded: true)
            }
            do {
                // The stream lives on the tunnel connection's event loop; its half goes in there first.
                try await stream.eventLoop.submit { try stream.pipeline.syncOperations.addHandler(pair.makeSecond()) }.get()
                try await ConnectionTakeover.switchProtocols(channel: front, head: answer) { pipeline in
                    try pipeline.add(pair.makeFirst())
                    pair.start()
                }
                stream.read()
            } catch {
                stream.close(promise: nil)
                throw KubeStatus.badRequest("cannot switch this connection's protocol (upgrades need HTTP/1.1): \(error)")
            }
            try? await front.closeFuture.get()
            try? await stream.closeFuture.get()
            return Response(status: .switchingProtocols)
        }
    }
}
