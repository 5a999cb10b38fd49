import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One `watch=1` request on a connection of its own, read on its event loop; the connection lives
/// for the scope of the caller's `body`.
///
/// AsyncHTTPClient multiplexes watches as HTTP/2 streams and hands every DATA frame — an apiserver
/// sends one per event — to the reading task separately: a thread wake-up per event, most of a
/// watcher's CPU at a thousand events a second. Here the answer is split into lines and decoded
/// where it arrives (`WatchLineDecoder`) and reaches the reader in batches, with backpressure: the
/// connection stops reading while the reader lags.
enum KubeWatchConnection {
    static let connectTimeout: TimeAmount = .seconds(5)

    /// Opens the watch; `headers` are the client's own (accept, user agent, token), `Host` is added here.
    static func open<Result>(_ connection: KubeConnection, pathAndQuery: String, headers: HTTPHeaders, maximumLineBytes: Int,
                             deadline: TimeAmount, body: (KubeWatchStream) async throws -> Result) async throws -> Result {
        guard let server = URLComponents(string: connection.server), let host = server.host, !host.isEmpty,
              let scheme = server.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw KubeConnectionError("the apiserver address \(connection.server) is not an http(s)://host[:port] URL")
        }
        let secure = scheme == "https"
        let port = server.port ?? (secure ? 443 : 80)
        let tls = secure ? try NIOSSLContext(configuration: try connection.tlsConfiguration()) : nil
        let isIP = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: server.percentEncodedPath.trimmingSuffix("/") + pathAndQuery)
        head.headers.add(name: "Host", value: server.port.map { "\(isIP && host.contains(":") ? "[\(host)]" : host):\($0)" } ?? host)
        head.headers.add(contentsOf: headers)

        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: isIP ? nil : host)) }
                    try pipeline.addHandler(HTTPRequestEncoder())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                    try pipeline.addHandler(WatchLineDecoder(maximumLineBytes: maximumLineBytes, deadline: deadline))
                    return try NIOAsyncChannel<WatchChunk, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16))
                    )
                }
            }
        let request = head
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(request))
            try await outbound.write(.end(nil))
            // The first chunk says whether the apiserver accepted the watch.
            var chunks = inbound.makeAsyncIterator()
            switch try await chunks.next() {
            case .opened?:
                return try await body(KubeWatchStream(chunks: chunks))
            case .failed(let error)?:
                throw error
            case .events?, nil:
                throw KubeWatchTransportError("the apiserver closed the watch connection before answering")
            }
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
