import BCSKube
import Foundation
import HTTPTypes
import NIOHPACK

/// Maps HTTP/1.1-shaped Kubernetes requests and responses onto HTTP/2 header blocks and back.
///
/// HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2), so hop-by-hop fields are dropped
/// here and an upgrade's `Upgrade` value travels as `bcs-tunnel-upgrade`. `Authorization` never
/// enters the tunnel: the agent authenticates with its own service-account token.
public enum TunnelHeaders {
    /// Hop-by-hop fields (RFC 9110 §7.6.1) plus the ones HTTP/2 rejects.
    static let hopByHop: Set<String> = [
        "connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host", "http2-settings",
    ]

    /// Whether `name` (lowercased) may be copied from one hop to the next, given the `Connection` tokens.
    static func passes(_ name: String, connectionTokens: Set<String>) -> Bool {
        !hopByHop.contains(name) && !connectionTokens.contains(name) && !name.hasPrefix(":")
    }

    static func connectionTokens(_ fields: HTTPFields) -> Set<String> {
        connectionTokens(values: fields[values: .connection])
    }

    /// The field names `Connection` values list, lowercased. Runs for every response: no Foundation.
    static func connectionTokens(values: some Sequence<String>) -> Set<String> {
        var tokens = Set<String>()
        for value in values {
            for item in value.utf8.split(separator: UInt8(ascii: ",")) {
                let trimmed = item.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                let end = trimmed.lastIndex { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                guard let end else { continue }
                tokens.insert(asciiLowercased(String(Substring(trimmed[...end]))))
            }
        }
        return tokens
    }

    /// `name` in lower case, without a new string when it already is (HTTP/2 field names must be).
    static func asciiLowercased(_ name: String) -> String {
        name.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? name.lowercased() : name
    }

    /// The h2 header block of a request to send through the tunnel; `upgrade` marks an upgrade stream.
    public static func requestBlock(_ head: HTTPRequest, upgrade: String?) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.add(name: ":method", value: head.method.rawValue)
        block.add(name: ":scheme", value: head.scheme ?? "https")
        block.add(name: ":authority", value: head.authority ?? "kubernetes")
        block.add(name: ":path", value: head.path ?? "/")
        let dropped = connectionTokens(head.headerFields)
        for field in head.headerFields {
            let name = field.name.canonicalName
            guard passes(name, connectionTokens: dropped), name != "authorization", !name.hasPrefix("bcs-tunnel-") else { continue }
            block.add(name: name, value: field.value)
        }
        if let upgrade { block.add(name: TunnelProtocol.upgradeHeader, value: upgrade) }
        return block
    }

    /// A request as the agent receives it: method, path with query, fields, and the upgrade value if any.
    public struct ReceivedRequest: Sendable, Equatable {
        public var method: String
        public var path: String
        public var fields: [(name: String, value: String)]
        public var upgrade: String?

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.method == rhs.method && lhs.path == rhs.path && lhs.upgrade == rhs.upgrade
                && lhs.fields.map { "\($0.name):\($0.value)" } == rhs.fields.map { "\($0.name):\($0.value)" }
        }
    }

    /// Parses a request block; nil when `:method` or `:path` is missing.
    public static func receivedRequest(_ block: HPACKHeaders) -> ReceivedRequest? {
        var method: String?
        var path: String?
        var upgrade: String?
        var fields: [(name: String, value: String)] = []
        for (name, value, _) in block {
            switch name {
            case ":method": method = value
            case ":path": path = value
            case TunnelProtocol.upgradeHeader: upgrade = value
            default:
                if !name.hasPrefix(":"), name != "authorization", !hopByHop.contains(name) { fields.append((name, value)) }
            }
        }
        guard let method, let path, path.hasPrefix("/") else { return nil }
        return ReceivedRequest(method: method, path: path, fields: fields, upgrade: upgrade)
    }

    /// The h2 header block of a response: `:status`, then the fields that may cross a hop.
    public static func responseBlock(status: Int, fields: [(name: String, value: String)], extra: [(String, String)] = []) -> HPACKHeaders {
        var block = HPACKHeaders()
        block.reserveCapacity(fields.count + extra.count + 1)
        block.add(name: ":status", value: String(status))
        let dropped = connectionTokens(values: fields.lazy.filter { asciiLowercased($0.name) == "connection" }.map(\.value))
        for (name, value) in fields {
            let lower = asciiLowercased(name)
            guard passes(lower, connectionTokens: dropped), !lower.hasPrefix("bcs-tunnel-") else { continue }
            block.add(name: lower, value: value)
        }
        for (name, value) in extra { block.add(name: name, value: value) }
        return block
    }

    /// `responseBlock(status:fields:)` of an apiserver's answer as `HTTP1ResponseFramer` parsed it,
    /// without making NIO's head type of it first (the agent does this for every answer).
    public static func responseBlock(_ answer: HTTP1ResponseHead) -> HPACKHeaders {
        let head = answer.head
        var block = HPACKHeaders()
        block.reserveCapacity(head.fields.count + 1)
        block.add(name: ":status", value: String(answer.status))
        let dropped = connectionTokens(values: head.fields.lazy.filter { head.equalsIgnoringCase($0.name, "connection") }.map { head.string($0.value) })
        for field in head.fields {
            let lower = asciiLowercased(head.string(field.name))
            guard passes(lower, connectionTokens: dropped), !lower.hasPrefix("bcs-tunnel-") else { continue }
            block.add(name: lower, value: head.string(field.value))
        }
        return block
    }

    /// Parses a response block; nil when `:status` is missing or not a number.
    public static func response(_ block: HPACKHeaders) -> HTTPResponse? {
        guard let statusText = block.first(name: ":status"), let code = Int(statusText), (100...999).contains(code) else { return nil }
        var fields = HTTPFields()
        for (name, value, _) in block where !name.hasPrefix(":") {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        return HTTPResponse(status: .init(code: code), headerFields: fields)
    }
}
