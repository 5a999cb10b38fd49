import BCSMongo
import Foundation
import HTTPTypes
import HummingbirdWebSocket
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// `pods/{name}/exec` over WebSocket (`v5`/`v4.channel.k8s.io`) and SPDY/3.1, running `MiniShell`.
///
/// WebSocket framing as kubectl expects it (kubectl-wire.md §5): binary messages whose first
/// byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close in v5).
/// Over SPDY (§6) the same roles are separate streams named by `streamtype`; the server waits
/// for all the streams the query asks for, as kubelet does, before running the command. Either
/// way the exit status is a `metav1.Status` on the error channel or stream (§5.3).
enum PodExec {
    static let webSocketProtocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    /// Over SPDY kubectl offers v5 down to v1; v5 and v4 carry the JSON status, older ones only failure text.
    static let spdyProtocols = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]

    static func webSocket(_ request: PodStreamRequest) -> ShouldUpgradeResult<WebSocketDataHandler<KubeSimChannel.Context>> {
        guard request.subresource == "exec", let chosen = webSocketProtocols.first(where: request.header("Sec-WebSocket-Protocol").contains) else {
            return .dontUpgrade
        }
        let wantStdin = request.flag("stdin")
        let wantStderr = request.flag("stderr") && !request.flag("tty")
        return .upgrade([.secWebSocketProtocol: chosen]) { inbound, outbound, _ in
            let (stdin, feed) = AsyncStream<[UInt8]>.makeStream()
            if !wantStdin { feed.finish() }
            let reader = Task {
                do {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .binary(let buffer) = message, let channel = buffer.readableBytesView.first else { continue }
                        let payload = Array(buffer.readableBytesView.dropFirst())
                        if channel == 0 { feed.yield(payload) } else if channel == 255, payload.first == 0 { feed.finish() }
                    }
                } catch {}
                feed.finish()
            }
            let send: @Sendable (UInt8, [UInt8]) async -> Void = { channel, bytes in
                var buffer = ByteBuffer()
                buffer.writeInteger(channel)
                buffer.writeBytes(bytes)
                try? await outbound.write(.binary(buffer))
            }
            // A container runtime takes a moment to start the process. Answering within microseconds
            // of the 101 meets a race in client-go's WebSocket executor, which discards frames for a
            // stream it has not registered yet ("Unknown stream id 3") and then fails the exec.
            try? await Task.sleep(for: .milliseconds(50))
            let code = await run(request, stdin: stdin, stdout: { await send(1, $0) }, stderr: { wantStderr ? await send(2, $0) : await send(1, $0) })
            await send(3, status(code, request))
            try? await outbound.close(.normalClosure, reason: nil)
            reader.cancel()
        }
    }

    static func spdy(_ request: PodStreamRequest) -> (HTTPHeaders, KubeSimChannel.SPDYSession)? {
        let offered = request.header("X-Stream-Protocol-Version")
        guard request.subresource == "exec", let chosen = offered.first(where: spdyProtocols.contains) else { return nil }
        let tty = request.flag("tty")
        let expected = 1 + [request.flag("stdin"), request.flag("stdout"), request.flag("stderr") && !tty, tty].filter { $0 }.count
        return (HTTPHeaders([("X-Stream-Protocol-Version", chosen)]), { connection, streams in
            let found = await SPDYConnection.collect(streams, count: expected)
            guard let error = found["error"] else { return }
            let stdout = found["stdout"]
            let stderr = found["stderr"] ?? stdout
            let stdin = found["stdin"]?.data ?? AsyncStream { $0.finish() }
            let code = await run(request, stdin: stdin,
                                 stdout: { bytes in if let stdout { connection.send(bytes, on: stdout.id) } },
                                 stderr: { bytes in if let stderr { connection.send(bytes, on: stderr.id) } })
            if chosen.hasPrefix("v5.") || chosen.hasPrefix("v4.") {
                connection.send(status(code, request), on: error.id)
            } else if code != 0 {
                connection.send(Array("command terminated with non-zero exit code: exit status \(code)".utf8), on: error.id)
            }
            for stream in found.values where stream.type != "error" { connection.close(stream.id) }
            connection.close(error.id)
        })
    }

    /// Runs the command of an exec request in `MiniShell` and returns its exit code.
    private static func run(_ request: PodStreamRequest, stdin: AsyncStream<[UInt8]>, stdout: @escaping @Sendable ([UInt8]) async -> Void,
                            stderr: @escaping @Sendable ([UInt8]) async -> Void) async -> Int {
        let environment: [(String, String)] = [
            ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ("HOSTNAME", request.name), ("HOME", "/root"),
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("KUBERNETES_SERVICE_PORT", "443"),
            ("POD_NAMESPACE", request.namespace), ("POD_IP", .init(request.pod.string("status", "podIP") ?? "")),
        ]
        let shell = MiniShell(hostname: request.name, environment: environment, stdin: stdin, stdout: stdout, stderr: stderr)
        return await shell.run(request.values("command"))
    }

    /// The exit status as kubelet writes it (kubectl-wire.md §5.3).
    private static func status(_ code: Int, _ request: PodStreamRequest) -> [UInt8] {
        let status: BSONDocument = code == 0
            ? ["metadata": .document([:]), "status": "Success"]
            : ["metadata": .document([:]), "status": "Failure",
               "message": .string("command terminated with non-zero exit code: error executing command \(request.values("command")), exit code \(code)"),
               "reason": "NonZeroExitCode",
               "details": .document(["causes": [.document(["reason": "ExitCode", "message": .string(String(code & 0xFF))])]])]
        return Array(JSONText.render(status).utf8)
    }
}
