import BCSCore
import Logging
import NIOCore
import NIOHTTP2

/// Adds the flush coalescer, the HTTP/2 handler and the PING handler behind `activity`, then lets
/// held bytes through.
///
/// Must run on the channel's event loop. Returns the multiplexer that opens streams.
func installHTTP2(
    on channel: any Channel, after activity: TunnelActivityHandler, mode: NIOHTTP2Handler.ParserMode, stats: TunnelStatsBox, logger: Logger,
    inbound: @escaping NIOChannelInitializer
) throws -> NIOHTTP2Handler.StreamMultiplexer {
    let configuration = TunnelProtocol.http2Configuration(for: mode)
    let http2 = NIOHTTP2Handler(mode: mode, eventLoop: channel.eventLoop, connectionConfiguration: configuration.connection,
                                streamConfiguration: configuration.stream, inboundStreamInitializer: inbound)
    let pipeline = channel.pipeline.syncOperations
    let coalescer = FlushCoalescer()
    try pipeline.addHandler(coalescer, position: .after(activity))
    try pipeline.addHandler(http2, position: .after(coalescer))
    let ping = TunnelPingHandler(liveness: activity.liveness, stats: stats, logger: logger)
    try pipeline.addHandler(ping, position: .after(http2))
    let multiplexer = try http2.syncMultiplexer()
    activity.release()
    return multiplexer
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
