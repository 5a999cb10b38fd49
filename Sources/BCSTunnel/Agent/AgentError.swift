import Foundation
import NIOSSL

/// What stops the agent, worded for the operator reading its log.
public enum AgentError: Error, Sendable, CustomStringConvertible, Equatable {
    case configuration(String)
    /// The gateway refused the register token (HTTP 401, or BCS's 400 "invalid register token").
    case registerTokenRefused(String)
    /// The gateway answered with an error status.
    case gatewayRefused(status: Int, message: String)
    /// No connection to the gateway (DNS, refused, timeout).
    case gatewayUnreachable(String)
    /// TLS with the gateway failed: its certificate is not signed by SERVER_CERT, or the name differs.
    case certificateMismatch(String)

    public var description: String {
        switch self {
        case .configuration(let message): return message
        case .registerTokenRefused(let message):
            return "the gateway refused the register token (check REGISTER_TOKEN and --cluster-id): \(message)"
        case .gatewayRefused(let status, let message): return "the gateway answered HTTP \(status): \(message)"
        case .gatewayUnreachable(let message): return "cannot reach the gateway: \(message)"
        case .certificateMismatch(let message):
            return "TLS with the gateway failed — its certificate is not trusted by SERVER_CERT or does not match the host "
                + "(set SERVER_CERT to the CA that signed it, or --insecureSkipVerify): \(message)"
        }
    }

    /// Classifies a transport error from connecting to the gateway.
    static func classify(_ error: any Error, address: String) -> AgentError {
        if let agent = error as? AgentError { return agent }
        if error is NIOSSLError || error is BoringSSLError || "\(error)".contains("SSL") || "\(error)".contains("certificate") {
            return .certificateMismatch("\(error)")
        }
        return .gatewayUnreachable("\(address): \(error)")
    }

    /// A message from a BCS envelope body, or the body itself, shortened.
    static func message(fromBody body: String) -> String {
        if let data = body.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let message = object["message"] as? String {
            return message
        }
        return String(body.prefix(300))
    }
}
