import BCSMongo
import Foundation
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// `pods/{name}/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`), running `MiniShell`.
///
/// Framing as kubectl expects it (kubectl-wire.md §5): binary messages whose first byte is the
/// channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close in v5), and the exit status
/// as a `metav1.Status` on channel 3 before a normal close.
enum PodExec {
    static let protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    private static let pods = ResourceCatalog.find(groupVersion: "v1", name: "pods")!

    /// Decides whether an HTTP request is an exec upgrade this server accepts.
    static func shouldUpgrade(_ request: HTTPRequest, store: ObjectStore, token: String) async -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        // Query values are form-encoded: `+` is a space (`command=exit+3`), a literal plus is `%2B`.
        guard let target = request.path?.replacingOccurrences(of: "+", with: "%20"), let components = URLComponents(string: target) else { return .dontUpgrade }
        let segments = components.path.split(separator: "/").map(String.init)
        guard segments.count == 7, segments[0] == "api", segments[1] == "v1", segments[2] == "namespaces", segments[4] == "pods", segments[6] == "exec",
              request.headerFields[.authorization] == "Bearer \(token)" else { return .dontUpgrade }
        let offered = (request.headerFields[.secWebSocketProtocol] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let chosen = protocols.first(where: offered.contains) else { return .dontUpgrade }
        let namespace = segments[3]
        let name = segments[5]
        guard let pod = try? await store.get(pods, namespace: namespace, name: name) else { return .dontUpgrade }
        let items = components.queryItems ?? []
        let argv = items.filter { $0.name == "command" }.compactMap(\.value)
        let flag = { (key: String) in items.contains { $0.name == key && ($0.value == "true" || $0.value == "1") } }
        let wantStdin = flag("stdin")
        let wantStderr = flag("stderr") && !flag("tty")
        let environment: [(String, String)] = [
            ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), ("HOSTNAME", name), ("HOME", "/root"),
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("KUBERNETES_SERVICE_PORT", "443"),
            ("POD_NAMESPACE", namespace), ("POD_IP", .init(pod.string("status", "podIP") ?? "")),
        ]
        var headers = HTTPFields()
        headers[.secWebSocketProtocol] = chosen
        return .upgrade(headers) { inbound, outbound, _ in
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
            let shell = MiniShell(hostname: name, environment: environment, stdin: stdin,
                                  stdout: { await send(1, $0) }, stderr: { wantStderr ? await send(2, $0) : await send(1, $0) })
            let code = await shell.run(argv)
            let status: BSONDocument = code == 0
                ? ["metadata": .document([:]), "status": "Success"]
                : ["metadata": .document([:]), "status": "Failure",
                   "message": .string("command terminated with non-zero exit code: error executing command \(argv), exit code \(code)"),
                   "reason": "NonZeroExitCode",
                   "details": .document(["causes": [.document(["reason": "ExitCode", "message": .string(String(code & 0xFF))])]])]
            await send(3, Array(JSONText.render(status).utf8))
            try? await outbound.close(.normalClosure, reason: nil)
            reader.cancel()
        }
    }
}
