import BCSCore
import Hummingbird

/// `/healthz`, `/readyz` and `/metrics`, served by every `bcs serve` process whatever its roles.
struct HealthController<Context: RequestContext> {
    let readiness: MongoReadiness
    /// The roles' own lines, after `ok`.
    var notes: [@Sendable () -> String] = []

    func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { _, _ in
            Self.text("ok\n", status: .ok)
        }
        router.get("/readyz") { [notes] _, _ in
            switch readiness.status {
            case .ready: return Self.text((["ok"] + notes.map { $0() }).joined(separator: "\n") + "\n", status: .ok)
            case .starting: return Self.text("not ready: mongodb: no ping answered yet\n", status: .serviceUnavailable)
            case .notReady(let reason): return Self.text("not ready: \(reason)\n", status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: MetricsBootstrap.render()))
            )
        }
    }

    static func text(_ body: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
