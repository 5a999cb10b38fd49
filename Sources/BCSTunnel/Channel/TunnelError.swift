import NIOHTTP2

/// What can go wrong on a tunnel and its streams, in words an operator can act on.
public enum TunnelError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The session is closed (peer gone, keepalive timeout, or closed locally).
    case sessionClosed
    /// The agent retires the session (it sent GOAWAY): no stream was opened, so the request may be
    /// sent on another session of the cluster as it is.
    case sessionDraining
    /// The peer reset the stream (HTTP/2 RST_STREAM with this error code).
    case streamReset(HTTP2ErrorCode)
    /// The stream ended before a response head arrived.
    case noResponseHead
    /// The peer sent a header block that is not a valid request or response.
    case malformedHead
    /// A body was longer than the caller allowed.
    case bodyTooLarge(Int)
    /// An upgrade was asked for without an `Upgrade` header.
    case notAnUpgrade
    /// The peer stayed silent past the keepalive deadline.
    case peerSilent(Duration)

    public var description: String {
        switch self {
        case .sessionClosed: return "the tunnel session is closed"
        case .sessionDraining: return "the agent is retiring this tunnel session"
        case .streamReset(let code): return "the tunnel stream was reset by the peer (\(code))"
        case .noResponseHead: return "the tunnel stream ended without a response"
        case .malformedHead: return "the tunnel peer sent a malformed header block"
        case .bodyTooLarge(let limit): return "the body is over the \(limit)-byte limit"
        case .notAnUpgrade: return "the request has no Upgrade header"
        case .peerSilent(let limit): return "the tunnel peer sent nothing for \(limit)"
        }
    }
}
