import HummingbirdWebSocket
import NIOHTTP1

/// Routes upgrade requests to exec, attach or port-forward, for `KubeSimChannel`.
enum PodStreamUpgrades {
    static func webSocket(store: ObjectStore, token: String) -> KubeSimChannel.WebSocketDecision {
        { head in
            let request: PodStreamRequest
            switch await PodStreamRequest.resolve(head, store: store, token: token) {
            case .success(let resolved): request = resolved
            case .failure(let status): return .failure(status)
            }
            let decision = switch request.subresource {
            case "exec": PodExec.webSocket(request)
            case "attach": PodAttach.webSocket(request)
            default: PodPortForward.webSocket(request)
            }
            switch decision {
            case .upgrade(let fields, let handler): return .success((fields, handler))
            case .dontUpgrade: return .failure(noProtocol(request, header: "Sec-WebSocket-Protocol"))
            }
        }
    }

    static func spdy(store: ObjectStore, token: String) -> KubeSimChannel.SPDYDecision {
        { head in
            let request: PodStreamRequest
            switch await PodStreamRequest.resolve(head, store: store, token: token) {
            case .success(let resolved): request = resolved
            case .failure(let status): return .failure(status)
            }
            let decision = switch request.subresource {
            case "exec": PodExec.spdy(request)
            case "attach": PodAttach.spdy(request)
            default: PodPortForward.spdy(request)
            }
            return decision.map { .success($0) } ?? .failure(noProtocol(request, header: "X-Stream-Protocol-Version"))
        }
    }

    private static func noProtocol(_ request: PodStreamRequest, header: String) -> KubeStatus {
        .badRequest("unable to upgrade: \(request.subresource) does not speak any of the offered \(header) values \(request.header(header))")
    }
}
