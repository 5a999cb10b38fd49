import BCSCore
import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

extension KubeProxy {
    /// Hop-by-hop headers of an upgrade request that are re-emitted deliberately, not copied.
    static let droppedUpgradeHeaders: Set<String> = droppedRequestHeaders.subtracting(["upgrade"])

    /// Relays an exec/attach/port-forward upgrade: the apiserver's 101 goes back verbatim and then
    /// bytes are spliced both ways; a non-101 answer goes back as it came (kubectl falls back from
    /// WebSocket to SPDY on it).
    func proxyUpgrade(
        _ request: Request, context: BCSRequestContext, target: Target, caller: Caller, cluster: ClusterActor, started: ContinuousClock.Instant
    ) async throws -> Response {
        let upstream = try await cluster.upgradeUpstream()
        guard !upstream.addresses.isEmpty else { throw KubeStatus.badGateway("cluster \(target.clusterID) reported no apiserver address") }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: target.upstreamURI)
        for field in request.headers where !Self.droppedUpgradeHeaders.contains(field.name.canonicalName) {
            head.headers.add(name: field.name.rawName, value: field.value)
        }
        head.headers.add(name: "Connection", value: "Upgrade")
        head.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(upstream.token)")
        addIdentity(of: caller, from: request.headers, to: &head.headers)

        let front = context.channel
        var failures: [String] = []
        for address in upstream.addresses {
            let outcome: UpstreamUpgrade.Outcome
            do {
                outcome = try await UpstreamUpgrade.open(address: address, tls: upstream.tls, head: head, eventLoop: front.eventLoop)
            } catch {
                failures.append("\(address): \(error)")
                continue
            }
            if address != upstream.addresses[0] { await cluster.markGood(address) }
            return try await answerUpgrade(outcome, front: front, request: request, target: target, caller: caller, started: started)
        }
        audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath, status: 502, bytes: 0, started: started)
        throw KubeStatus.badGateway("cluster \(target.clusterID): no apiserver address could be reached (\(failures.joined(separator: "; ")))")
    }

    /// Relays what an upgraded upstream (an apiserver, or a peer replica) answered: a refusal as it
    /// came, a 101 by splicing the two connections.
    func answerUpgrade(
        _ outcome: UpstreamUpgrade.Outcome, front: any Channel, request: Request, target: Target, caller: Caller, started: ContinuousClock.Instant
    ) async throws -> Response {
        switch outcome {
        case .refused(let answer, let body):
            audit.record(user: caller.user, cluster: target.clusterID, verb: request.method.rawValue, path: target.subPath,
                         status: Int(answer.status.code), bytes: body.readableBytes, started: started)
            return Self.refusedUpgradeResponse(answer, body: body)
        case .switched(let answer, let upstreamChannel):
            return try await splice(front: front, upstream: upstreamChannel, answer: answer, request: request, target: target, caller: caller, started: started)
        }
    }

    /// A non-101 answer to an upgrade, relayed as it came (kubectl falls back from WebSocket to SPDY on it).
    static func refusedUpgradeResponse(_ answer: HTTPResponseHead, body: ByteBuffer) -> Response {
        var headers = HTTPFields()
        for (name, value) in answer.headers where !droppedResponseHeaders.contains(name.lowercased()) && name.lowercased() != "content-length" {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: .init(byteBuffer: body))
    }

    private func splice(
        front: any Channel, upstream: any Channel, answer: HTTPResponseHead, request: Request, target: Target, caller: Caller,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        let response: HTTPResponse
        do {
            response = try HTTPResponse(answer)
        } catch {
            upstream.close(promise: nil)
            throw KubeStatus.badGateway("cluster \(target.clusterID) answered the upgrade with an invalid response head")
        }
        let (audit, verb, clusterID, path) = (self.audit, request.method.rawValue, target.clusterID, target.subPath)
        do {
            let pair = ChannelSplice.Pair(front, upstream) { fromClient, fromUpstream in
                audit.record(user: caller.user, cluster: clusterID, verb: verb, path: path, status: 101, bytes: fromUpstream,
                             bytesIn: fromClient, started: started, upgraded: true)
            }
            try await ConnectionTakeover.switchProtocols(channel: front, head: response) { pipeline in
                // Both channels share the front's event loop (the upstream was dialled on it).
                try pipeline.add(pair.makeFirst())
                try UpstreamUpgrade.attach(pair.makeSecond(), to: upstream)
                pair.start()
            }
        } catch {
            upstream.close(promise: nil)
            throw KubeStatus.badRequest("cannot switch this connection's protocol (upgrades need HTTP/1.1): \(error)")
        }
        // The session lives until either side closes; the response below is never written.
        try? await front.closeFuture.get()
        try? await upstream.closeFuture.get()
        return Response(status: .switchingProtocols)
    }
}
