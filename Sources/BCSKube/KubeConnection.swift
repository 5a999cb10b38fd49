import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Yams

/// How to reach one Kubernetes apiserver: its URL, the CA to trust, and where the bearer token comes from.
///
/// Loaded from a kubeconfig (`--kubeconfig`) or from a pod's in-cluster layout
/// (`KUBERNETES_SERVICE_HOST`/`PORT` plus the service-account `token` and `ca.crt`). A token read
/// from a file is re-read on every `currentToken()` call because projected service-account tokens
/// rotate (about hourly); callers cache it for at most a period.
public struct KubeConnection: Sendable, Equatable {
    public enum TokenSource: Sendable, Equatable {
        case none
        case literal(String)
        case file(String)
    }

    /// `https://host:port`, without a trailing slash.
    public var server: String
    /// PEM of the CA that signed the apiserver's certificate; nil trusts the system roots.
    public var caPEM: String?
    public var insecureSkipVerify: Bool
    public var token: TokenSource
    /// PEM client certificate and key (kubeconfigs of kind/kubeadm clusters use them instead of tokens).
    public var clientCertificatePEM: String?
    public var clientKeyPEM: String?
    /// The namespace of the kubeconfig context or the pod; nil means none was given.
    public var namespace: String?

    public init(server: String, caPEM: String? = nil, insecureSkipVerify: Bool = false, token: TokenSource = .none,
                clientCertificatePEM: String? = nil, clientKeyPEM: String? = nil, namespace: String? = nil) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.caPEM = caPEM
        self.insecureSkipVerify = insecureSkipVerify
        self.token = token
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.namespace = namespace
    }

    /// The token to send now (re-read from its file each call).
    public func currentToken() throws -> String? {
        switch token {
        case .none: return nil
        case .literal(let value): return value
        case .file(let path):
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { throw KubeConnectionError("the token file \(path) is empty") }
                return text
            } catch let error as KubeConnectionError {
                throw error
            } catch {
                throw KubeConnectionError("cannot read the token file \(path): \(error.localizedDescription)")
            }
        }
    }

    /// TLS settings that trust exactly this connection's CA (or nothing checked, when told to skip).
    public func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if insecureSkipVerify {
            tls.certificateVerification = .none
        } else if let caPEM {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
            } catch {
                throw KubeConnectionError("the apiserver CA is not a valid PEM certificate: \(error)")
            }
        }
        if let clientCertificatePEM, let clientKeyPEM {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(clientCertificatePEM.utf8)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(clientKeyPEM.utf8), format: .pem))
            } catch {
                throw KubeConnectionError("the client certificate or key is not valid PEM: \(error)")
            }
        }
        return tls
    }

    /// An HTTP client for this apiserver: its CA, no redirects, bounded pool, no idle-read cut (watches idle).
    ///
    /// With `failRefusedAtOnce`, a refused connection fails its requests immediately instead of
    /// being retried until the connect deadline: right for a proxy, which answers 502 at once.
    public func makeHTTPClient(connectTimeout: TimeAmount = .seconds(5), maximumConnections: Int = 16, failRefusedAtOnce: Bool = false) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: try tlsConfiguration(),
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: nil),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maximumConnections),
            decompression: .disabled
        )
        configuration.httpVersion = .automatic
        configuration.connectionPool.retryConnectionEstablishment = !failRefusedAtOnce
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// A kubeconfig or in-cluster layout that cannot be used, with the reason in words.
public struct KubeConnectionError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
