import Foundation
import HTTPTypes
import HummingbirdWebSocket
import NIOCore
import NIOHTTP1

/// `pods/{name}/portforward`: every port of a simulated pod is an echo server.
///
/// Three transports, as kubectl-wire.md §7 describes them: SPDY/3.1 (`Upgrade: SPDY/3.1`,
/// `X-Stream-Protocol-Version: portforward.k8s.io`; kubectl ≤ 1.30, and 1.31+ as fallback), the
/// same SPDY byte stream tunnelled in binary WebSocket messages (`SPDY/3.1+portforward.k8s.io`,
/// kubectl 1.31+'s default), and kubelet's own WebSocket protocol (`v4.channel.k8s.io` with
/// `?ports=`) for other clients. In the SPDY forms each local connection is an `error` and a
/// `data` stream sharing a `requestid`; nothing is written on the error stream of a healthy
/// connection, since any text there makes kubectl give up (§7.4).
enum PodPortForward {
    static let tunnelProtocol = "SPDY/3.1+portforward.k8s.io"
    static let channelProtocols = ["v4.channel.k8s.io", "portforward.k8s.io"]

    static func spdy(_ request: PodStreamRequest) -> (HTTPHeaders, KubeSimChannel.SPDYSession)? {
        guard request.subresource == "portforward", request.header("X-Stream-Protocol-Version").contains("portforward.k8s.io") else { return nil }
        return (HTTPHeaders([("X-Stream-Protocol-Version", "portforward.k8s.io")]), session)
    }

    static func webSocket(_ request: PodStreamRequest) -> ShouldUpgradeResult<WebSocketDataHandler<KubeSimChannel.Context>> {
        guard request.subresource == "portforward" else { return .dontUpgrade }
        let offered = request.header("Sec-WebSocket-Protocol")
        if offered.contains(tunnelProtocol) {
            return .upgrade([.secWebSocketProtocol: tunnelProtocol]) { inbound, outbound, _ in
                let (bytes, feed) = AsyncStream<ByteBuffer>.makeStream()
                let pump = Task {
                    do {
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            if case .binary(let buffer) = message { feed.yield(buffer) }
                        }
                    } catch {}
                    feed.finish()
                }
                await SPDYConnection.run(inbound: bytes, write: { try await outbound.write(.binary($0)) }, hangUp: { pump.cancel() }, session: session)
                pump.cancel()
            }
        }
        let ports = request.values("ports").flatMap { $0.split(separator: ",") }.compactMap { UInt16($0.trimmingCharacters(in: .whitespaces)) }
        guard let chosen = channelProtocols.first(where: offered.contains), !ports.isEmpty else { return .dontUpgrade }
        return .upgrade([.secWebSocketProtocol: chosen]) { inbound, outbound, _ in
            // kubelet's protocol: channel 2i is port i's data, 2i+1 its errors; each channel's first message is the port (uint16, little-endian).
            for (index, port) in ports.enumerated() {
                for channel in [UInt8(2 * index), UInt8(2 * index + 1)] {
                    try? await outbound.write(.binary(ByteBuffer(bytes: [channel, UInt8(port & 0xFF), UInt8(port >> 8)])))
                }
            }
            do {
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .binary(let buffer) = message, let channel = buffer.readableBytesView.first,
                          channel % 2 == 0, Int(channel / 2) < ports.count, buffer.readableBytes > 1 else { continue }
                    try await outbound.write(.binary(buffer))
                }
            } catch {}
        }
    }

    /// One SPDY session: echoes each data stream and ends it, with its error stream, when the client half-closes it.
    private static let session: KubeSimChannel.SPDYSession = { connection, streams in
        await withTaskGroup(of: Void.self) { group in
            var errorStreams: [String: UInt32] = [:]
            for await stream in streams {
                let requestID = stream.headers["requestid"] ?? ""
                switch stream.type {
                case "error":
                    errorStreams[requestID] = stream.id
                case "data":
                    let errorID = errorStreams.removeValue(forKey: requestID)
                    group.addTask {
                        for await chunk in stream.data { connection.send(chunk, on: stream.id) }
                        connection.close(stream.id)
                        if let errorID { connection.close(errorID) }
                    }
                default:
                    connection.close(stream.id)
                }
            }
        }
    }
}
