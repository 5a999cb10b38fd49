import HummingbirdCore
import Logging
import NIOCore

/// Another server channel, with Nagle's algorithm off on each accepted connection (`TCP_NODELAY`).
///
/// Hummingbird's server leaves it on. An answer that leaves in more than one write (a head, then
/// its body as it comes from the cluster; a watch event after another) then has every later part
/// held back until the client acknowledges the earlier one, and clients delay acknowledgements by up
/// to 40 ms: the gateway's latency tail showed 20–40 ms stalls under load. nginx turns it off on
/// keep-alive connections for the same reason (`tcp_nodelay on`).
struct NoDelayChannel<Base: HTTPChannelHandler>: HTTPChannelHandler {
    let base: Base

    var responder: Responder { base.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        // Not a TCP socket (a Unix socket, a test's embedded channel): nothing to turn off.
        try? channel.syncOptions?.setOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
