import Hummingbird

extension Request {
    /// The token of an `Authorization: Bearer <token>` header, as BCS reads it: exactly the scheme
    /// `Bearer`, one space, a non-empty token of at most 512 bytes; anything else is no token.
    public var bearerToken: String? { headers.bearerToken }
}

extension HTTPFields {
    /// The bearer token of these request headers (see `Request.bearerToken`).
    public var bearerToken: String? {
        guard let header = self[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "Bearer", !parts[1].isEmpty, parts[1].utf8.count <= 512 else { return nil }
        return String(parts[1])
    }
}
