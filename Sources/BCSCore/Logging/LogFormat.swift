import Logging

/// How log records are written: human-readable text or one JSON object per line.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json

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
