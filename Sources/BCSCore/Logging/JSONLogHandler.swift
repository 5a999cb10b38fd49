import Foundation
import Logging
import Synchronization

/// Writes each log record as one JSON object on one line, for log shippers.
///
/// Fields: `ts` (RFC 3339, milliseconds, UTC), `level`, `logger`, `msg`, then the metadata keys.
/// Each line goes out in a single `write(2)`, so lines from concurrent tasks never interleave.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: LogSink

    public init(label: String, level: Logger.Level, sink: LogSink = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = LogEvent.metadata(of: event, base: metadata, provider: metadataProvider)
        let fields = merged.sorted(by: { $0.key < $1.key }).map { (key: $0.key, value: $0.value) }
        sink.write(Self.line(level: event.level, label: label, message: event.message.description, fields: fields))
    }

    /// One record as a line; `fields` in the order given (`log` sorts them by key), less any that
    /// would repeat `ts`, `level`, `logger` or `msg`.
    static func line(level: Logger.Level, label: String, message: String, fields: [(key: String, value: Logger.Metadata.Value)]) -> String {
        var line = "{\"ts\":\"\(timestamp())\",\"level\":\"\(level.rawValue)\",\"logger\":"
        appendQuoted(label, to: &line)
        line += ",\"msg\":"
        appendQuoted(message, to: &line)
        for (key, value) in fields where !["ts", "level", "logger", "msg"].contains(key) {
            line += ","
            appendQuoted(key, to: &line)
            line += ":"
            append(value, to: &line)
        }
        line += "}\n"
        return line
    }

    static func append(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let s): appendQuoted(s, to: &line)
        case .stringConvertible(let c): appendQuoted(c.description, to: &line)
        case .array(let values):
            line += "["
            for (i, v) in values.enumerated() {
                if i > 0 { line += "," }
                append(v, to: &line)
            }
            line += "]"
        case .dictionary(let dict):
            line += "{"
            for (i, key) in dict.keys.sorted().enumerated() {
                if i > 0 { line += "," }
                appendQuoted(key, to: &line)
                line += ":"
                append(dict[key]!, to: &line)
            }
            line += "}"
        }
    }

    static func appendQuoted(_ s: String, to line: inout String) {
        JSONString.appendQuoted(s, to: &line)
    }

    static func timestamp() -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date())
    }
}
