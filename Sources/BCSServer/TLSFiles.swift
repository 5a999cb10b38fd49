import BCSCore
import Foundation
import NIOSSL

/// A server certificate chain and key, read and parsed at start-up.
///
/// Loading both files while the configuration is validated means an unreadable or malformed file
/// stops start-up with a line naming the file, not a failed TLS handshake later.
public struct TLSFiles: Sendable {
    public let certificatePath: String
    public let keyPath: String
    public let configuration: TLSConfiguration

    public init(certificatePath: String, keyPath: String) throws {
        for (path, what) in [(certificatePath, "certificate"), (keyPath, "key")] where !FileManager.default.isReadableFile(atPath: path) {
            throw ConfigurationError("cannot read TLS \(what) file \(path)")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw ConfigurationError("TLS certificate file \(certificatePath) holds no valid PEM certificate (\(error))")
        }
        guard !chain.isEmpty else {
            throw ConfigurationError("TLS certificate file \(certificatePath) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ConfigurationError("TLS key file \(keyPath) holds no valid PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.configuration = configuration
    }
}
