import NIOCore
import NIOHTTP2

/// The constants of the agent tunnel: route, headers, subprotocol, windows and keepalive timings.
///
/// Docs/tunnel.md specifies the protocol; this is the one place its numbers live, so the gateway
/// and the agent cannot disagree.
public enum TunnelProtocol {
    /// The route the agent dials (BCS 1.19.x's, under the gateway's `/bcsapi/v4` prefix).
    public static let connectPath = "/bcsapi/v4/usermanager/v1/websocket/connect"
    /// The WebSocket subprotocol both sides name, so a proxy that logs it shows what runs inside.
    public static let subprotocol = "bcs-tunnel.v1"

    public static let moduleHeader = "BCS-API-Tunnel-Module"
    public static let clusterIDHeader = "BCS-API-Tunnel-ClusterId"
    public static let tokenHeader = "BCS-API-Tunnel-Token"
    public static let paramsHeader = "BCS-API-Tunnel-Params"
    /// The module names BCS uses for the agent (master, 1.19.x).
    public static let agentModules: Set<String> = ["kubeagent", "kube-agent"]

    /// Request header of an upgrade stream: the original `Upgrade` value (h2 forbids `Upgrade` itself).
    public static let upgradeHeader = "bcs-tunnel-upgrade"
    /// Response header of an upgrade stream: the apiserver's status (`101` when switched).
    public static let statusHeader = "bcs-tunnel-status"

    /// Per-stream receive window: large enough that one stream is not window-bound on a fast link.
    public static let streamWindow = 1 << 20
    /// Connection receive window: several streams at full speed before the connection is the limit.
    public static let connectionWindow = 16 << 20
    /// Largest DATA frame either end accepts: a 100 MiB download in 64 KiB frames rather than 16 KiB
    /// ones (a quarter of the frames, headers and hand-offs), while a frame still occupies the
    /// connection for well under a millisecond, so other streams are not held up behind it.
    public static let maxFrameSize = 64 << 10
    /// Streams one session carries at once (watches are long-lived, so this is generous).
    public static let maxConcurrentStreams = 1000
    /// Header lists of Kubernetes requests can be large (impersonation, long label selectors).
    public static let maxHeaderListSize = 64 << 10

    /// The HTTP/2 configuration both ends use.
    public static var http2Configuration: NIOHTTP2Handler.Configuration {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            HTTP2Setting(parameter: .maxFrameSize, value: maxFrameSize),
        ]
        connection.targetWindowSize = connectionWindow
        // Each PING is answered by the peer's stack; rate limits stay NIO's defaults.
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = streamWindow
        stream.outboundBufferSizeHighWatermark = 256 << 10
        stream.outboundBufferSizeLowWatermark = 64 << 10
        return NIOHTTP2Handler.Configuration(connection: connection, stream: stream)
    }
}

/// Keepalive timings: how often each side pings and how long a silent peer is given.
public struct TunnelKeepalive: Sendable, Equatable {
    public var interval: Duration
    public var deadAfter: Duration

    public init(interval: Duration = .seconds(5), deadAfter: Duration = .seconds(15)) {
        self.interval = interval
        self.deadAfter = deadAfter
    }

    public static let standard = TunnelKeepalive()
}
