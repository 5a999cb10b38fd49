import Logging

/// How log records are written: human-readable text or one JSON object per line.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json

    /// One record rendered exactly as this format's handler writes it, for a writer that logs
    /// many records with known keys (the gateway's audit) without building swift-log metadata
    /// dictionaries and sorting them for every record. `fields` must be sorted by key.
    public func line(level: Logger.Level, label: String, source: String, message: String, fields: [(key: String, value: String)]) -> String {
        switch self {
        case .text:
            return TextLogHandler.line(level: level, label: label, source: source, message: message, fields: fields)
        case .json:
            return JSONLogHandler.line(level: level, label: label, message: message, fields: fields.map { (key: $0.key, value: .string($0.value)) })
        }
    }

    public static func parse(_ text: String) throws -> LogFormat {
        guard let format = LogFormat(rawValue: text.lowercased()) else {
            throw ConfigurationError("unknown log format \"\(text)\" (valid: text, json)")
        }
        return format
    }
}

extension Logger.Level {
    /// Parses a level name (`trace` … `critical`; `warn` is accepted for `warning`).
    public static func parse(_ text: String) throws -> Logger.Level {
        let lower = text.lowercased()
        if lower == "warn" { return .warning }
        guard let level = Logger.Level(rawValue: lower) else {
            throw ConfigurationError("unknown log level \"\(text)\" (valid: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return level
    }
}
