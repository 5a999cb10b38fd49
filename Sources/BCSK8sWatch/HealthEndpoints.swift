import BCSCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `/healthz` and `/metrics` of the watcher, on `--listen-addr`.
public enum HealthEndpoints {
    /// A Hummingbird application (a Service) serving the two endpoints.
    public static func application(host: String, port: Int, logger: Logger) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: MetricsBootstrap.render())))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "bcs-k8s-watch"), logger: logger)
    }
}
