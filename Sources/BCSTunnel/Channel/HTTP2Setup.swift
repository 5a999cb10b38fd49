import BCSCore
import Logging
import NIOCore
import NIOHTTP2

/// What the gateway opens a tunnel's streams with.
struct GatewayTunnelStreams {
    let multiplexer: HTTP2StreamMultiplexer.SendableView
    let clientStreams: NIOLoopBound<TunnelClientStreams>
}

/// The gateway's side: the flush coalescer, the HTTP/2 client handler, `TunnelClientStreams` (the
/// bodiless requests, answered from the frames, and the numbering of every stream), NIOHTTP2's
/// stream multiplexer for the rest, and the PING handler, which hears the connection's own frames
/// from the multiplexer; then lets held bytes through.
///
/// Must run on the channel's event loop.
func installGatewayHTTP2(
    on channel: any Channel, after activity: TunnelActivityHandler, stats: TunnelStatsBox, logger: Logger
) throws -> GatewayTunnelStreams {
    let configuration = TunnelProtocol.http2Configuration(for: .client)
    let pipeline = channel.pipeline.syncOperations
    let coalescer = FlushCoalescer()
    try pipeline.addHandler(coalescer, position: .after(activity))
    let http2 = NIOHTTP2Handler(mode: .client, connectionConfiguration: configuration.connection, streamConfiguration: configuration.stream)
    try pipeline.addHandler(http2, position: .after(coalescer))
    let clientStreams = TunnelClientStreams(stats: stats)
    try pipeline.addHandler(clientStreams, position: .after(http2))
    let multiplexer = HTTP2StreamMultiplexer(
        mode: .client, channel: channel, targetWindowSize: configuration.stream.targetWindowSize,
        outboundBufferSizeHighWatermark: configuration.stream.outboundBufferSizeHighWatermark,
        outboundBufferSizeLowWatermark: configuration.stream.outboundBufferSizeLowWatermark
    ) { stream in
        // The agent is the HTTP/2 server: it never opens streams (and TunnelClientStreams lets no
        // frame of a stream it does not know through). Refuse any.
        stream.close(promise: nil)
        return stream.eventLoop.makeSucceededVoidFuture()
    }
    try pipeline.addHandler(multiplexer, position: .after(clientStreams))
    try pipeline.addHandler(TunnelPingHandler(liveness: activity.liveness, stats: stats, logger: logger), position: .after(multiplexer))
    activity.release()
    return GatewayTunnelStreams(multiplexer: multiplexer.sendableView, clientStreams: NIOLoopBound(clientStreams, eventLoop: channel.eventLoop))
}

/// The agent's side: the flush coalescer, the HTTP/2 server handler, `ApiserverFastStreams` (the
/// bodiless requests, answered from the frames), NIOHTTP2's stream multiplexer for the rest
/// (`inbound` sets each of their channels up), and the PING handler, which hears the connection's
/// own frames from the multiplexer; then lets held bytes through.
///
/// Must run on the channel's event loop.
func installAgentHTTP2(
    on channel: any Channel, after activity: TunnelActivityHandler, route: ApiserverRoute, stats: TunnelStatsBox, logger: Logger,
    inbound: @escaping NIOChannelInitializer
) throws {
    let configuration = TunnelProtocol.http2Configuration(for: .server)
    let pipeline = channel.pipeline.syncOperations
    let coalescer = FlushCoalescer()
    try pipeline.addHandler(coalescer, position: .after(activity))
    let http2 = NIOHTTP2Handler(mode: .server, connectionConfiguration: configuration.connection, streamConfiguration: configuration.stream)
    try pipeline.addHandler(http2, position: .after(coalescer))
    let fast = ApiserverFastStreams(route: route, stats: stats)
    try pipeline.addHandler(fast, position: .after(http2))
    let multiplexer = HTTP2StreamMultiplexer(
        mode: .server, channel: channel, targetWindowSize: configuration.stream.targetWindowSize,
        outboundBufferSizeHighWatermark: configuration.stream.outboundBufferSizeHighWatermark,
        outboundBufferSizeLowWatermark: configuration.stream.outboundBufferSizeLowWatermark, inboundStreamInitializer: inbound)
    try pipeline.addHandler(multiplexer, position: .after(fast))
    try pipeline.addHandler(TunnelPingHandler(liveness: activity.liveness, stats: stats, logger: logger), position: .after(multiplexer))
    activity.release()
}
