import Foundation
import Synchronization

/// Where log lines go: a file descriptor (stderr by default) or, in tests, memory.
///
/// Each line goes out in a single `write(2)`, so lines from concurrent tasks never interleave;
/// inside `LogSink.batching` the lines a task logs are gathered and go out in one write at the end
/// (the audit writer logs a whole queue of records at once: one system call, not one per record).
public final class LogSink: Sendable {
    /// The descriptor written to; -1 keeps lines in `captured` instead.
    private let fd: Int32
    private let captured = Mutex<[String]>([])

    public static let standardError = LogSink(fd: 2)

    public init(fd: Int32) {
        self.fd = fd
    }

    /// A sink that keeps lines in memory, for tests.
    public init(capturing: Void) {
        self.fd = -1
    }

    public var lines: [String] { captured.withLock { $0 } }

    /// Runs `body`; the lines it logs (on this task, to any sink) are written when it returns,
    /// one write per sink, in order.
    public static func batching<Result>(_ body: () throws -> Result) rethrows -> Result {
        let batch = Batch()
        defer { batch.flush() }
        return try $currentBatch.withValue(batch, operation: body)
    }

    /// Writes `text` (whole lines) in one `write(2)`, or into the running batch.
    public func write(_ text: String) {
        if let batch = Self.currentBatch {
            batch.add(text, to: self)
        } else {
            emit(text)
        }
    }

    /// Writes `bytes` (whole lines of UTF-8) in one `write(2)`, outside any batch.
    public func write(bytes: [UInt8]) {
        if fd < 0 {
            captured.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
            return
        }
        bytes.withUnsafeBufferPointer { writeAll($0) }
    }

    private func emit(_ text: String) {
        if fd < 0 {
            captured.withLock { $0.append(text) }
            return
        }
        var text = text
        text.withUTF8 { writeAll($0) }
    }

    /// Every byte to the descriptor, as many `write(2)`s as it takes; gives up on an error.
    private func writeAll(_ buffer: UnsafeBufferPointer<UInt8>) {
        var offset = 0
        while offset < buffer.count {
            let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }

    @TaskLocal private static var currentBatch: Batch?

    /// Lines gathered by `batching`, per sink. A captured sink keeps them as separate lines.
    private final class Batch: Sendable {
        private let pending = Mutex<[(sink: LogSink, lines: [String])]>([])

        func add(_ line: String, to sink: LogSink) {
            pending.withLock { pending in
                if let index = pending.firstIndex(where: { $0.sink === sink }) {
                    pending[index].lines.append(line)
                } else {
                    pending.append((sink, [line]))
                }
            }
        }

        func flush() {
            let gathered = pending.withLock { pending -> [(sink: LogSink, lines: [String])] in
                let all = pending
                pending = []
                return all
            }
            for (sink, lines) in gathered {
                if sink.fd < 0 {
                    sink.captured.withLock { $0.append(contentsOf: lines) }
                } else {
                    sink.emit(lines.joined())
                }
            }
        }
    }
}
