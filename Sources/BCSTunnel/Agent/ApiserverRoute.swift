import BCSKube
import Logging
import NIOCore
import NIOSSL

/// Where the agent's streams go: its one apiserver, with the pieces a stream needs.
struct ApiserverRoute: Sendable {
    let host: String
    let port: Int
    /// The `Host` field: `host:port`, IPv6 literals in brackets.
    let authority: String
    /// A path the kubeconfig's server URL carries (a proxy in front of the apiserver), or "".
    let pathPrefix: String
    let tls: NIOSSLContext?
    let tokens: TokenCache
    let connections: UpstreamConnectionPools
    let logger: Logger
    /// The apiserver's address as configured, for error messages.
    let server: String
    /// How long the apiserver may take to begin an answer (then the agent answers 504).
    let responseTimeout: TimeAmount
}
