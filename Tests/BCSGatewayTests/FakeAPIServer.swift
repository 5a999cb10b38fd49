import BCSTestSupport
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle

/// A stand-in apiserver over TLS with its own CA, recording what reaches it.
struct FakeAPIServer {
    let port: Int
    let caPEM: String
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// A self-signed certificate for 127.0.0.1 (CN fake-apiserver): its PEM, for a cluster's
    /// reported CA, and a server TLS configuration using it.
    static func makeCertificate() async throws -> (pem: String, tls: TLSConfiguration) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-fake-apiserver-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }  // certificate and key are read into memory below
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let openssl = try await ChildProcess.run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=fake-apiserver", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
        ])
        guard openssl.status == 0 else { throw FakeFailure(message: openssl.stderr) }
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
        return (try String(contentsOfFile: cert, encoding: .utf8), tls)
    }

    static func start() async throws -> FakeAPIServer {
        let (pem, tls) = try await makeCertificate()
        let router = Router()
        router.get("/api/v1/namespaces") { request, _ -> Response in
            let echo: [String: String] = [
                "authorization": request.headers[.authorization] ?? "", "path": request.uri.path, "query": request.uri.query ?? "",
            ]
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(echo))))
        }
        router.post("/api/v1/namespaces/default/configmaps") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        router.post("/api/v1/namespaces/default/secrets") { _, _ -> Response in
            // Refused before the body is read, as an apiserver's authorizer does.
            Response(status: .forbidden, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"kind":"Status","reason":"Forbidden"}"#)))
        }
        router.get("/api/v1/pods") { _, _ -> Response in
            // A watch-like stream: one line now, one later.
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "{\"type\":\"ADDED\"}\n"))
                try await Task.sleep(for: .milliseconds(1500))
                try await writer.write(ByteBuffer(string: "{\"type\":\"MODIFIED\"}\n"))
                try await writer.finish(nil)
            })
        }
        router.get("/readyz") { _, _ in "ok" }
        router.get("/api/v1/namespaces/missing") { _, _ -> Response in
            Response(status: .notFound, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"kind":"Status","reason":"NotFound"}"#)))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-apiserver"),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-apiserver")
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "fake-apiserver")))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw FakeFailure(message: "no port") }
        return FakeAPIServer(port: port, caPEM: pem, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    struct FakeFailure: Error { let message: String }
}
