import Foundation
import NIOSSL

/// Where the agent finds the gateway (`--bke-address`) and how it trusts it.
///
/// BCS 1.19.x dials `wss://<host of bke-address>/…`: the scheme and path of the flag are
/// ignored there. We keep the scheme (an `http://` address is plain TCP, for tests and
/// in-cluster gateways behind a TLS-terminating proxy) and, like BCS, ignore the path.
public struct GatewayAddress: Sendable, Equatable {
    public var useTLS: Bool
    public var host: String
    public var port: Int

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), ["http", "https", "ws", "wss"].contains(scheme),
              let host = url.host, !host.isEmpty
        else {
            throw AgentError.configuration("--bke-address must be an http(s) URL such as https://bcs-api-gateway:8443, not '\(text)'")
        }
        useTLS = scheme == "https" || scheme == "wss"
        self.host = host
        port = url.port ?? (useTLS ? 443 : 80)
    }

    /// `host:port` for the Host header (IPv6 literals bracketed).
    public var authority: String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    /// The base URL for REST calls (`https://host:port`).
    public var baseURL: String {
        (useTLS ? "https://" : "http://") + authority
    }
}

/// How the agent verifies the gateway: `SERVER_CERT` (a CA PEM), the system roots, or not at all.
public struct GatewayTrust: Sendable, Equatable {
    public var insecureSkipVerify: Bool
    public var caPEM: String?

    public init(insecureSkipVerify: Bool = false, caPEM: String? = nil) {
        self.insecureSkipVerify = insecureSkipVerify
        self.caPEM = caPEM
    }

    /// The TLS client settings, HTTP/1.1 only (the tunnel handshake is an HTTP/1.1 upgrade).
    public func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.applicationProtocols = ["http/1.1"]
        if insecureSkipVerify {
            tls.certificateVerification = .none
        } else if let caPEM, !caPEM.isEmpty {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
            } catch {
                throw AgentError.configuration("SERVER_CERT is not a valid PEM certificate: \(error)")
            }
        }
        return tls
    }
}
