import Foundation

/// RFC 3339 timestamps and kubectl-style ages.
enum Timestamps {
    static func now() -> String { format(Date()) }

    static func format(_ date: Date) -> String {
        Date.ISO8601FormatStyle(timeZone: .gmt).format(date)
    }

    static func parse(_ text: String) -> Date? { try? Date.ISO8601FormatStyle().parse(text) }

    /// `5s`, `3m`, `2h`, `4d`, the AGE column's short form.
    static func age(since text: String?, now: Date = Date()) -> String {
        guard let text, let date = parse(text) else { return "<unknown>" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h"
        default: return "\(seconds / 86400)d"
        }
    }
}
