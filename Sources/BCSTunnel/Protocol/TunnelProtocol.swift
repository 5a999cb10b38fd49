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
    /// In the gateway's 101: an opaque name of the event loop serving the session, so that an agent
    /// opening more sessions for load can tell whether a new one landed on a loop it already has.
    public static let loopHeader = "BCS-API-Tunnel-Loop"
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

    /// Streams the gateway remembers resetting, so that their late frames are ignored (see below).
    public static let rememberedResets = 256
    /// RST_STREAM frames the agent accepts from its gateway per second (see below).
    public static let gatewayResetsPerSecond = 1000

    /// The HTTP/2 configuration of one end: `.client` is the gateway (it opens the streams),
    /// `.server` the agent.
    public static func http2Configuration(for mode: NIOHTTP2Handler.ParserMode) -> NIOHTTP2Handler.Configuration {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            HTTP2Setting(parameter: .maxFrameSize, value: maxFrameSize),
        ]
        connection.targetWindowSize = connectionWindow
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = streamWindow
        stream.outboundBufferSizeHighWatermark = 256 << 10
        stream.outboundBufferSizeLowWatermark = 64 << 10
        switch mode {
        case .client:
            // A client of the gateway that leaves resets its stream while the agent may still be
            // sending its answer; those late frames are ignored only for streams HTTP/2 remembers
            // resetting, 32 by default. Clients leaving together (a controller restarting with its
            // informers' watches on one connection, a load balancer dropping its connections) reset
            // more than that at once, and the 33rd late DATA frame was taken for a protocol error
            // that closed the session under every other user of the cluster. NIOHTTP2 keeps this
            // list (and each rate limit's timestamps) allocated per connection, so it is sized with
            // the idle-tunnel memory in mind: the agent's PINGs and SETTINGS arrive a dozen times
            // in 30 s and a well-behaved agent causes no stream errors, so those two limits, kept
            // as DoS guards against a misbehaving agent, are lowered from 200 to pay for it.
            connection.maximumRecentlyResetStreams = rememberedResets
            connection.controlFrameRateLimit.maximumCount = 60
            stream.streamErrorRateLimit.maximumCount = 20
        case .server:
            // RST_STREAM is how the gateway cancels a request whose client left. NIOHTTP2 guards
            // servers against rapid-reset floods with 200 per 30 s, which a busy cluster's users
            // reach by themselves (kubectl's timeouts, Ctrl-C, dashboards navigating away); the
            // 201st closed the tunnel for everyone. The gateway is an authenticated peer: the
            // limit here is per second, as many as the streams it may have open.
            stream.streamResetFrameRateLimit.maximumCount = gatewayResetsPerSecond
            stream.streamResetFrameRateLimit.windowLength = .seconds(1)
        }
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
