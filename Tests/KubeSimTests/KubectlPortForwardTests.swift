import BCSTestSupport
import Foundation
import Testing

/// `kubectl port-forward` to a simulated pod, whose every port echoes, over each transport kubectl uses.
@Suite("kube-sim port-forward", .serialized)
struct KubectlPortForwardTests {
    static let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"echo"},"spec":{"containers":[{"name":"main","image":"busybox","ports":[{"containerPort":8080}]}]}}"#

    /// kubectl 1.29 speaks SPDY; 1.33 SPDY tunnelled in WebSocket by default, plain SPDY when told (kubectl-wire.md §7).
    static let transports: [(String, [String: String])] = [
        ("1.29", [:]),
        ("1.33", [:]),
        ("1.33", ["KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"]),
    ]

    @Test("bytes sent to the forwarded local port come back, over two connections in turn", arguments: 0..<transports.count)
    func echo(transport: Int) async throws {
        let (version, environment) = Self.transports[transport]
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let kubectl = try ChildProcess(try KubeSimHarness.kubectlPath(version),
                                       ["--kubeconfig", sim.kubeconfig, "--cache-dir", sim.directory + "/cache", "port-forward", "pod/echo", ":8080"],
                                       environment: environment)
        defer { kubectl.terminate() }
        var port: UInt16?
        _ = try await KubeSimHarness.eventually {
            // "Forwarding from 127.0.0.1:43127 -> 8080"
            port = kubectl.stdout.split(separator: "\n").first { $0.hasPrefix("Forwarding from 127.0.0.1:") }
                .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { UInt16($0) }
            return port != nil || !kubectl.isRunning
        }
        let local = try #require(port, "no port in \(kubectl.stdout) \(kubectl.stderr)")
        for round in 1...2 {
            let reply = try await Self.roundTrip(port: local, message: "ping \(round) over \(version)\n")
            #expect(reply == "ping \(round) over \(version)\n", "\(kubectl.stderr)")
        }
        #expect(kubectl.isRunning, "\(kubectl.stderr)")
        #expect(!kubectl.stderr.contains("error"), "\(kubectl.stderr)")
    }

    /// A client of kubelet's own WebSocket port-forward protocol (kubectl-wire.md §7.5), which kubectl does not speak.
    static let channelClient = #"""
        import base64, os, socket, ssl, sys
        host, port, ca, token, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
        context = ssl.create_default_context(cafile=ca)
        conn = context.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode()
        conn.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
                      f"Authorization: Bearer {token}\r\n\r\n").encode())
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += conn.recv(4096)
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        print(head.split(b"\r\n")[0].decode())
        def frame():
            global buffer
            while len(buffer) < 2 or len(buffer) < 2 + (buffer[1] & 0x7F):
                buffer += conn.recv(4096)
            length = buffer[1] & 0x7F
            payload, buffer = buffer[2:2 + length], buffer[2 + length:]
            return payload
        print(frame().hex(), frame().hex())
        mask = os.urandom(4)
        message = b"\x00hello"
        conn.sendall(bytes([0x82, 0x80 | len(message)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(message)))
        print(frame())
        """#

    @Test("kubelet's WebSocket port-forward protocol: the port on each channel first, then data echoed on channel 0")
    func channelProtocol() async throws {
        let sim = try await KubeSimHarness()
        #expect(try await sim.curl("/api/v1/namespaces/default/pods", method: "POST", body: Self.pod).code == 201)
        let parts = sim.url.dropFirst("https://".count).split(separator: ":")
        let result = try await ChildProcess.run("/usr/bin/python3", ["-c", Self.channelClient, String(parts[0]), String(parts[1]), sim.caFile, sim.token,
                                                                     "/api/v1/namespaces/default/pods/echo/portforward?ports=8080"])
        #expect(result.stdout == "HTTP/1.1 101 Switching Protocols\n00901f 01901f\nb'\\x00hello'\n", "\(result.stdout) \(result.stderr)")
    }

    /// Connects to 127.0.0.1:`port`, sends `message`, half-closes, and reads until the other side closes.
    static func roundTrip(port: UInt16, message: String) async throws -> String {
        try await Task.detached {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.EBADF) }
            defer { close(fd) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            let bytes = Array(message.utf8)
            guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EPIPE) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while received.count < bytes.count {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { break }
                received += buffer[0..<count]
            }
            shutdown(fd, Int32(SHUT_WR))
            return String(decoding: received, as: UTF8.self)
        }.value
    }
}
