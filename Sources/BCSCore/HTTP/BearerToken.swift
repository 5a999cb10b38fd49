import Hummingbird

extension Request {
    /// The token of an `Authorization: Bearer <token>` header, as BCS reads it: exactly the scheme
    /// `Bearer`, one space, a non-empty token of at most 512 bytes; anything else is no token.
    public var bearerToken: String? { headers.bearerToken }
}

extension HTTPFields {
    /// The bearer token of these request headers (see `Request.bearerToken`).
    public var bearerToken: String? {
        self[.authorization].flatMap(BearerToken.parse)
    }
}

/// Reads the token out of an `Authorization` value.
public enum BearerToken {
    /// The token of `Bearer <token>` (see `Request.bearerToken`), or nil.
    public static func parse(_ header: String) -> String? {
        // Runs for every proxied request: bytes, not string splitting.
        let utf8 = header.utf8
        guard utf8.starts(with: "Bearer ".utf8) else { return nil }
        let token = utf8.dropFirst(7)
        guard !token.isEmpty, token.count <= 512, !token.contains(UInt8(ascii: " ")) else { return nil }
        return String(Substring(token))
    }
}
