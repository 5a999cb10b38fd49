import Foundation

/// The `BCS-API-Tunnel-Params` header: base64 of JSON `{address, userToken, caCert}`, as BCS 1.19.x sends it.
///
/// `caCert` is base64 of the CA PEM inside the base64 JSON (BCS's double encoding). In tunnel mode
/// our agent authenticates to its apiserver itself, so `userToken` is the non-secret marker
/// `in-cluster` rather than the service-account token: BCS's gateway requires it non-empty, ours
/// never uses it, and the token does not leave the cluster.
public struct TunnelParams: Codable, Sendable, Equatable {
    public var address: String
    public var userToken: String
    public var caCert: String

    /// What our agent sends as `userToken`.
    public static let inClusterMarker = "in-cluster"

    public init(address: String, userToken: String, caCert: String) {
        self.address = address
        self.userToken = userToken
        self.caCert = caCert
    }

    /// Params for an agent whose apiserver is `address` with CA `caPEM` (base64-encoded here).
    public init(address: String, caPEM: String) {
        self.init(address: address, userToken: Self.inClusterMarker, caCert: Data(caPEM.utf8).base64EncodedString())
    }

    /// The header value.
    public func encoded() -> String {
        let json = (try? JSONEncoder().encode(self)) ?? Data("{}".utf8)
        return json.base64EncodedString()
    }

    /// Parses a header value; nil when it is not base64 of a JSON object of this shape.
    public static func decode(_ header: String) -> TunnelParams? {
        guard header.utf8.count <= 64 << 10, let data = Data(base64Encoded: header) else { return nil }
        return try? JSONDecoder().decode(TunnelParams.self, from: data)
    }

    /// The CA PEM, decoded from `caCert`; nil when `caCert` is not base64.
    public var caPEM: String? {
        Data(base64Encoded: caCert).flatMap { String(data: $0, encoding: .utf8) }
    }
}
