extension AccessControl {
    /// Whether `token` is the current register token of `clusterID`, for a co-hosted tunnel handshake.
    ///
    /// A register token authorises only its own cluster's credential report and tunnel handshake
    /// (BCS 1.19.x's tunnel authorizer compares it with `bcs_register_tokens.token`). Stored tokens
    /// are keyed hashes, so the comparison goes through the secret box in constant time, as the
    /// credentials report does. No token minted for the cluster, or the wrong one: false.
    public func verifyRegisterToken(clusterID: String, token: String) async throws -> Bool {
        guard !token.isEmpty, token.utf8.count <= 256 else { return false }
        guard let record = try await services.clusters.registerToken(clusterID: clusterID) else { return false }
        return services.box.matches(token, storedKey: record.tokenKey, purpose: .registerToken)
    }
}
