import HummingbirdWebSocket
import NIOHTTP1

/// Routes upgrade requests to exec, attach or port-forward, for `KubeSimChannel`.
enum PodStreamUpgrades {
    static func webSocket(store: ObjectStore, token: String) -> KubeSimChannel.WebSocketDecision {
        { head in
            guard let request = await PodStreamRequest.resolve(head, store: store, token: token) else { return .dontUpgrade }
            switch request.subresource {
            case "exec": return PodExec.webSocket(request)
            case "attach": return PodAttach.webSocket(request)
            default: return PodPortForward.webSocket(request)
            }
        }
    }

    static func spdy(store: ObjectStore, token: String) -> KubeSimChannel.SPDYDecision {
        { head in
            guard let request = await PodStreamRequest.resolve(head, store: store, token: token) else { return nil }
            switch request.subresource {
            case "exec": return PodExec.spdy(request)
            case "attach": return PodAttach.spdy(request)
            default: return PodPortForward.spdy(request)
            }
        }
    }
}
