import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceLifecycle

/// One audit record per proxied request or upgraded session: who, which cluster, verb, path,
/// status, bytes each way, duration.
///
/// Records are queued (bounded, 10,000) and written by `AuditWriter` under the log label
/// `bcs.audit`, so a slow log sink never delays the data path; a full queue drops the record and
/// counts it in `bcs_gateway_audit_dropped_total`. Query strings are left out: they can carry tokens.
struct AuditLog: Sendable {
    struct Record: Sendable {
        let user: String
        let cluster: String
        let verb: String
        let path: String
        let status: Int
        let bytesIn: Int
        let bytesOut: Int
        let milliseconds: Int
        let upgraded: Bool
    }

    static let capacity = 10_000
    let records: AsyncStream<Record>
    private let continuation: AsyncStream<Record>.Continuation
    private let dropped = Counter(label: "bcs_gateway_audit_dropped_total")

    init() {
        (records, continuation) = AsyncStream.makeStream(of: Record.self, bufferingPolicy: .bufferingOldest(Self.capacity))
    }

    func record(user: String, cluster: String, verb: String, path: String, status: Int, bytes: Int, bytesIn: Int = 0,
                started: ContinuousClock.Instant, upgraded: Bool = false) {
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        Counter(label: "bcs_gateway_requests_total", dimensions: [("cluster", cluster), ("code", String(status))]).increment()
        let record = Record(user: user, cluster: cluster, verb: verb, path: path, status: status, bytesIn: bytesIn, bytesOut: bytes,
                            milliseconds: Int(ms.rounded()), upgraded: upgraded)
        if case .dropped = continuation.yield(record) { dropped.increment() }
    }

    func finish() { continuation.finish() }

    /// Wraps a response body so its bytes are counted and the record written when it ends.
    func counting<Body: AsyncSequence & Sendable>(_ body: Body, onEnd: @escaping @Sendable (Int) -> Void) -> CountingBody<Body> where Body.Element == ByteBuffer {
        CountingBody(base: body, onEnd: onEnd)
    }
}

/// Writes queued audit records to the `bcs.audit` log until shutdown, then drains what is left.
struct AuditWriter: Service {
    let audit: AuditLog
    let logger = Logger(label: "bcs.audit")

    func run() async {
        await withGracefulShutdownHandler {
            for await record in audit.records {
                logger.info(record.upgraded ? "session" : "proxied", metadata: [
                    "user": "\(record.user)", "cluster": "\(record.cluster)", "verb": "\(record.verb)", "path": "\(record.path)",
                    "status": "\(record.status)", "bytes_in": "\(record.bytesIn)", "bytes": "\(record.bytesOut)",
                    "latency_ms": "\(record.milliseconds)",
                ])
            }
        } onGracefulShutdown: {
            audit.finish()
        }
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
