import BCSKube
import Foundation

/// Maps a core/v1 Event to BCS's storage body (`BcsStorageEventIf`).
///
/// `env:"k8s"`, `kind` = the involved object's kind, `level` = type (Normal/Warning, as sent),
/// `component` = source component, `type` = reason, `describe` = message, `eventTime` = unix seconds
/// of `lastTimestamp`, else `eventTime`, else `firstTimestamp`, else `metadata.creationTimestamp`
/// (never the year-1 time the original watcher wrote for a zero `lastTimestamp`),
/// `extraInfo{namespace, name, kind}` of the involved object and `data` = the whole Event. The
/// Event's `metadata.uid` and `resourceVersion` travel in `data`: storage upserts on them, so a
/// resent or older version never duplicates.
public enum EventMapper {
    /// The storage body, or nil for an object that is not an Event with a uid.
    public static func body(for event: JSONValue, clusterId: String) -> JSONValue? {
        guard event[path: "metadata", "uid"]?.stringValue?.isEmpty == false else { return nil }
        let involved = event["involvedObject"]
        let kind = involved?["kind"]?.stringValue ?? ""
        let namespace = involved?["namespace"]?.stringValue ?? event[path: "metadata", "namespace"]?.stringValue ?? ""
        let component = event[path: "source", "component"]?.stringValue ?? event["reportingComponent"]?.stringValue ?? ""
        return .object([
            "env": .string("k8s"),
            "kind": .string(kind.isEmpty ? "Unknown" : kind),
            "level": .string(event["type"]?.stringValue ?? ""),
            "component": .string(component),
            "type": .string(event["reason"]?.stringValue ?? ""),
            "describe": .string(event["message"]?.stringValue ?? ""),
            "clusterId": .string(clusterId),
            "eventTime": .int(Int64(eventDate(event)?.timeIntervalSince1970 ?? Date().timeIntervalSince1970)),
            "extraInfo": .object([
                "namespace": .string(namespace),
                "name": .string(involved?["name"]?.stringValue ?? ""),
                "kind": .string(kind),
            ]),
            "data": event,
        ])
    }

    /// When the event last happened: `lastTimestamp`, `eventTime` (events.k8s.io style, microseconds),
    /// `firstTimestamp`, then the object's creation.
    public static func eventDate(_ event: JSONValue) -> Date? {
        for key in ["lastTimestamp", "eventTime", "firstTimestamp"] {
            if let text = event[key]?.stringValue, let date = parseTime(text) { return date }
        }
        return event[path: "metadata", "creationTimestamp"]?.stringValue.flatMap(parseTime)
    }

    /// RFC 3339 with or without fractional seconds.
    static func parseTime(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }
}
