import BCSCore

/// What `bcs kube-sim` was asked to do.
public struct KubeSimOptions: Sendable {
    public var listen = ListenAddress(host: "127.0.0.1", port: 0)
    public var token = "kube-sim-token"
    public var kubeconfigOut: String?
    public var inClusterDir: String?
    public var clusterName = "kube-sim"
    /// Most objects stored at once; a create beyond it fails (events from --event-rate recycle the oldest instead).
    public var maxObjects = 20_000
    /// Changes kept for watch resumption; a watch from an older resourceVersion gets 410 Expired.
    public var watchWindow = 10_000
    public var eventRate = 0.0
    public var bookmarkInterval: Duration = .seconds(10)
    /// Offer `h2` by ALPN. Off by default: with it on, the gateway's HTTP/2 client to kube-sim
    /// loses the end of exec streams it relays (see Docs/kube-sim.md).
    public var http2 = false

    public static let defaultMaxObjects = 20_000
    public static let defaultWatchWindow = 10_000

    public init() {}
}
