import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore

/// One audit record per proxied request: who, which cluster, verb, path, status, bytes, latency.
///
/// Records go through swift-log under the label `bcs.audit` (so they follow `--log-format` and can be
/// routed apart) once the response body has been relayed — counting bytes as they pass, never
/// buffering or delaying them. Query strings are left out: they can carry tokens.
struct AuditLog: Sendable {
    let logger = Logger(label: "bcs.audit")

    func record(user: String, cluster: String, verb: String, path: String, status: Int, bytes: Int, started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info("proxied", metadata: [
            "user": "\(user)", "cluster": "\(cluster)", "verb": "\(verb)", "path": "\(path)",
            "status": "\(status)", "bytes": "\(bytes)", "latency_ms": "\(Int(ms.rounded()))",
        ])
        Counter(label: "bcs_gateway_requests_total", dimensions: [("cluster", cluster), ("code", String(status))]).increment()
    }

    /// Wraps a response body so its bytes are counted and the record written when it ends.
    func counting<Body: AsyncSequence & Sendable>(_ body: Body, onEnd: @escaping @Sendable (Int) -> Void) -> CountingBody<Body> where Body.Element == ByteBuffer {
        CountingBody(base: body, onEnd: onEnd)
    }
}

/// A response body that counts the bytes it yields and reports the total when it ends.
struct CountingBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let onEnd: @Sendable (Int) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let onEnd: @Sendable (Int) -> Void
        var total = 0
        var ended = false

        mutating func next() async throws -> ByteBuffer? {
            do {
                if let buffer = try await base.next() {
                    total += buffer.readableBytes
                    return buffer
                }
            } catch {
                finish()
                throw error
            }
            finish()
            return nil
        }

        private mutating func finish() {
            guard !ended else { return }
            ended = true
            onEnd(total)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), onEnd: onEnd) }
}
