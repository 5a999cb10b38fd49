/// A `HOST:PORT` to listen on (`[::1]:8080` for IPv6; `:8080` means all IPv4 interfaces).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let hostPart: Substring
        let portPart: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"), trimmed[trimmed.index(after: close)...].hasPrefix(":") else {
                throw ConfigurationError("invalid listen address \"\(text)\": expected [IPv6]:PORT")
            }
            hostPart = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            portPart = trimmed[trimmed.index(close, offsetBy: 2)...]
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else {
                throw ConfigurationError("invalid listen address \"\(text)\": expected HOST:PORT")
            }
            hostPart = trimmed[..<colon]
            portPart = trimmed[trimmed.index(after: colon)...]
        }
        guard let port = Int(portPart), (0...65535).contains(port) else {
            throw ConfigurationError("invalid listen address \"\(text)\": port must be a number from 0 to 65535")
        }
        self.host = hostPart.isEmpty ? "0.0.0.0" : String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

import Foundation
