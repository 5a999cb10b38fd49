import HummingbirdWebSocket
import NIOHTTP1

/// Routes upgrade requests to exec or port-forward, for `KubeSimChannel`.
enum PodStreamUpgrades {
    static func webSocket(store: ObjectStore, token: String) -> KubeSimChannel.WebSocketDecision {
        { head in
            guard let request = await PodStreamRequest.resolve(head, store: store, token: token) else { return .dontUpgrade }
            return request.subresource == "exec" ? PodExec.webSocket(request) : PodPortForward.webSocket(request)
        }
    }

    static func spdy(store: ObjectStore, token: String) -> KubeSimChannel.SPDYDecision {
        { head in
            guard let request = await PodStreamRequest.resolve(head, store: store, token: token) else { return nil }
            return request.subresource == "exec" ? PodExec.spdy(request) : PodPortForward.spdy(request)
        }
    }
}
