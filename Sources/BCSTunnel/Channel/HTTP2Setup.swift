import BCSCore
import Logging
import NIOCore
import NIOHTTP2

/// What the gateway opens a tunnel's streams with.
struct GatewayTunnelStreams {
    let multiplexer: HTTP2StreamMultiplexer.SendableView
    let clientStreams: NIOLoopBound<TunnelClientStreams>
}

/// The gateway's side: `TunnelClientStreams` routes the frames (it serves the bodiless requests
/// from them and numbers every stream), and the agent may open no stream of its own.
///
/// Must run on the channel's event loop.
func installGatewayHTTP2(
    on channel: any Channel, after activity: TunnelActivityHandler, stats: TunnelStatsBox, logger: Logger
) throws -> GatewayTunnelStreams {
    let clientStreams = TunnelClientStreams(stats: stats)
    let multiplexer = try installTunnelHTTP2(on: channel, after: activity, mode: .client, router: clientStreams, stats: stats, logger: logger,
                                             drainOnGoAway: true) { stream in
        // The agent is the HTTP/2 server: it never opens streams (and TunnelClientStreams lets no
        // frame of a stream it does not know through). Refuse any.
        stream.close(promise: nil)
        return stream.eventLoop.makeSucceededVoidFuture()
    }
    return GatewayTunnelStreams(multiplexer: multiplexer.sendableView, clientStreams: NIOLoopBound(clientStreams, eventLoop: channel.eventLoop))
}

/// The agent's side: `ApiserverFastStreams` routes the frames (it serves the bodiless requests from
/// them); `inbound` sets up the stream channel of each other request.
///
/// Must run on the channel's event loop.
func installAgentHTTP2(
    on channel: any Channel, after activity: TunnelActivityHandler, route: ApiserverRoute, stats: TunnelStatsBox, logger: Logger,
    inbound: @escaping NIOChannelInitializer
) throws {
    let router = ApiserverFastStreams(route: route, stats: stats)
    _ = try installTunnelHTTP2(on: channel, after: activity, mode: .server, router: router, stats: stats, logger: logger, inbound: inbound)
}

/// One end of a tunnel after the handshake: the flush coalescer, the HTTP/2 handler, `router` (which
/// serves some streams from the frames and passes the rest on), NIOHTTP2's stream multiplexer for
/// the rest, and the PING handler, which hears the connection's own frames from the multiplexer;
/// then lets held bytes through.
private func installTunnelHTTP2(
    on channel: any Channel, after activity: TunnelActivityHandler, mode: NIOHTTP2Handler.ParserMode, router: any ChannelHandler,
    stats: TunnelStatsBox, logger: Logger, drainOnGoAway: Bool = false, inbound: @escaping NIOChannelInitializer
) throws -> HTTP2StreamMultiplexer {
    let configuration = TunnelProtocol.http2Configuration(for: mode)
    let pipeline = channel.pipeline.syncOperations
    let coalescer = FlushCoalescer()
    try pipeline.addHandler(coalescer, position: .after(activity))
    let http2 = NIOHTTP2Handler(mode: mode, connectionConfiguration: configuration.connection, streamConfiguration: configuration.stream)
    try pipeline.addHandler(http2, position: .after(coalescer))
    try pipeline.addHandler(router, position: .after(http2))
    let multiplexer = HTTP2StreamMultiplexer(
        mode: mode, channel: channel, targetWindowSize: configuration.stream.targetWindowSize,
        outboundBufferSizeHighWatermark: configuration.stream.outboundBufferSizeHighWatermark,
        outboundBufferSizeLowWatermark: configuration.stream.outboundBufferSizeLowWatermark, inboundStreamInitializer: inbound)
    try pipeline.addHandler(multiplexer, position: .after(router))
    try pipeline.addHandler(TunnelPingHandler(liveness: activity.liveness, stats: stats, logger: logger, drainOnGoAway: drainOnGoAway), position: .after(multiplexer))
    activity.release()
    return multiplexer
}
