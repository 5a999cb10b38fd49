import BCSMongo
import Foundation
import HTTPTypes
import HummingbirdWebSocket
import NIOCore
import NIOHTTP1

/// `pods/{name}/attach` over WebSocket and SPDY/3.1: the simulated main process, live.
///
/// A simulated pod's main process is the one whose output `pods/log` computes: a heartbeat line
/// a second. Attaching shows the lines from now on and, with `stdin=true`, echoes what is typed,
/// as a process reading its stdin would. Like a real attach the session lasts until the client
/// leaves (the process never exits), and no exit status is sent.
enum PodAttach {
    static func webSocket(_ request: PodStreamRequest) -> ShouldUpgradeResult<WebSocketDataHandler<KubeSimChannel.Context>> {
        guard let chosen = PodExec.webSocketProtocols.first(where: request.header("Sec-WebSocket-Protocol").contains) else { return .dontUpgrade }
        return .upgrade([.secWebSocketProtocol: chosen]) { inbound, outbound, _ in
            let send: @Sendable ([UInt8]) async -> Void = { bytes in
                var buffer = ByteBuffer()
                buffer.writeInteger(UInt8(1))
                buffer.writeBytes(bytes)
                try? await outbound.write(.binary(buffer))
            }
            let (stdin, feed) = AsyncStream<[UInt8]>.makeStream()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await heartbeats(request, write: send) }
                group.addTask { for await chunk in stdin { await send(chunk) } }
                do {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .binary(let buffer) = message, buffer.readableBytesView.first == 0 else { continue }
                        feed.yield(Array(buffer.readableBytesView.dropFirst()))
                    }
                } catch {}
                feed.finish()
                group.cancelAll()
            }
        }
    }

    static func spdy(_ request: PodStreamRequest) -> (HTTPHeaders, KubeSimChannel.SPDYSession)? {
        guard let chosen = request.header("X-Stream-Protocol-Version").first(where: PodExec.spdyProtocols.contains) else { return nil }
        let tty = request.flag("tty")
        let expected = 1 + [request.flag("stdin"), request.flag("stdout"), request.flag("stderr") && !tty, tty].filter { $0 }.count
        return (HTTPHeaders([("X-Stream-Protocol-Version", chosen)]), { connection, streams in
            await withTaskGroup(of: Void.self) { group in
                var found: [String: SPDYConnection.Stream] = [:]
                // Iterated to the end: the stream of streams finishes when the client hangs up.
                for await stream in streams {
                    found[stream.type] = stream
                    guard found.count == expected, let stdout = found["stdout"] else { continue }
                    group.addTask { await heartbeats(request) { connection.send($0, on: stdout.id) } }
                    if let stdin = found["stdin"] {
                        group.addTask { for await chunk in stdin.data { connection.send(chunk, on: stdout.id) } }
                    }
                }
                group.cancelAll()
            }
        })
    }

    /// Writes the pod's heartbeat lines as they fall due, until cancelled.
    private static func heartbeats(_ request: PodStreamRequest, write: @Sendable ([UInt8]) async -> Void) async {
        let started = Timestamps.parse(request.pod.string("metadata", "creationTimestamp") ?? "") ?? Date()
        let container = request.values("container").first
            ?? request.pod["spec"]?.doc["containers"]?.arrayValue?.first?.doc["name"]?.stringValue ?? "main"
        var n = max(0, Int(Date().timeIntervalSince(started))) + 1
        while !Task.isCancelled {
            let wait = started.addingTimeInterval(Double(n)).timeIntervalSinceNow
            if wait > 0 {
                do { try await Task.sleep(for: .milliseconds(Int(wait * 1000) + 1)) } catch { return }
            }
            await write(Array(PodLogs.heartbeat(n, started: started, container: container, namespace: request.namespace, name: request.name).utf8))
            n += 1
        }
    }
}
