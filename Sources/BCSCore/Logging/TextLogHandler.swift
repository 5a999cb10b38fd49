import Foundation
import Logging
import Synchronization

/// Writes each log record as one line of text, in the layout of swift-log's `StreamLogHandler`:
/// `2026-11-28T04:29:15+0000 info bcs.audit: key=value … [Module] message`.
///
/// Why not `StreamLogHandler` itself: it formats the time with `localtime`, which looks up the
/// time zone file (a `stat(2)`) on every line, and it cannot batch. The gateway logs an audit line
/// per request, so both showed up in its profile. Times here are UTC, formatted once per second.
public struct TextLogHandler: LogHandler {
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
        let fields = merged.sorted(by: { $0.key < $1.key }).map { (key: $0.key, value: $0.value.description) }
        sink.write(Self.line(level: event.level, label: label, source: event.source, message: event.message.description, fields: fields))
    }

    /// One record as a line; `fields` in the order given (`log` sorts them by key).
    static func line(level: Logger.Level, label: String, source: String, message: String, fields: [(key: String, value: String)]) -> String {
        // One allocation for the line: growing it append by append cost the audit writer, which
        // formats a line per proxied request, a reallocation every few fields.
        var line = ""
        line.reserveCapacity(96 + label.utf8.count + fields.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 })
        line += timestamp()
        line += " "
        line += level.rawValue
        if !label.isEmpty {
            line += " "
            line += label
        }
        line += ":"
        for (key, value) in fields {
            line += " "
            line += key
            line += "="
            line += value
        }
        line += " ["
        line += source
        line += "] "
        line += message
        line += "\n"
        return line
    }

    private static let lastSecond = Mutex<(second: Int, text: String)>((-1, ""))

    /// The current time as `YYYY-MM-DDTHH:MM:SS+0000`, made at most once per second.
    public static func timestamp() -> String {
        var now = time(nil)
        let second = Int(now)
        if let cached = lastSecond.withLock({ $0.second == second ? $0.text : nil }) { return cached }
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S+0000", &parts)
        let text = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        lastSecond.withLock { $0 = (second, text) }
        return text
    }
}

extension LogEvent {
    /// The metadata a handler writes for `event`: its own, the provider's, the event's (later wins),
    /// and the event's error as `error.message` and `error.type`, as swift-log's own handlers do.
    static func metadata(of event: LogEvent, base: Logger.Metadata, provider: Logger.MetadataProvider?) -> Logger.Metadata {
        // The commonest case (an audit line): only the event's own metadata, used as it is.
        if base.isEmpty, provider == nil, event.error == nil { return event.metadata ?? [:] }
        var merged = base
        if let provided = provider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return merged
    }
}
