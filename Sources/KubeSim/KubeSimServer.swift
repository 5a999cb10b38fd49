import BCSCore
import BCSMongo
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// The composition root of `bcs kube-sim`: certificates, the store, the HTTPS server, the files.
///
/// Once listening it prints `https://HOST:PORT` on stdout (the port chosen when 0 was asked for)
/// and writes the kubeconfig and in-cluster files, so a test can wait for that line and go.
public struct KubeSimServer: Sendable {
    public let options: KubeSimOptions
    public let logger: Logger

    public init(options: KubeSimOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    public func run() async throws {
        let certificates = try SimCertificates(clusterName: options.clusterName, extraHosts: [options.listen.host])
        let store = ObjectStore(maxObjects: options.maxObjects, watchWindow: options.watchWindow)
        await SeedObjects.seed(store)

        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificates.serverCertificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificates.serverKeyPEM.utf8), format: .pem))
        )
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = options.http2 ? KubeSimALPNChannel.applicationProtocols : ["http/1.1"]

        let options = self.options
        let logger = self.logger
        let listenHost = options.listen.host == "0.0.0.0" ? "127.0.0.1" : options.listen.host
        let urlHost = listenHost.contains(":") ? "[\(listenHost)]" : listenHost
        let responder = KubeAPI(store: store, token: options.token, serverAddress: "\(urlHost):\(options.listen.port)",
                                logger: logger, bookmarkInterval: options.bookmarkInterval)
        let app = Application(
            responder: responder,
            server: try .tls(
                KubeSimALPNChannel.builder(webSocket: PodStreamUpgrades.webSocket(store: store, token: options.token),
                                           spdy: PodStreamUpgrades.spdy(store: store, token: options.token)),
                tlsConfiguration: tls
            ),
            configuration: .init(address: .hostname(options.listen.host, port: options.listen.port), serverName: "kube-sim"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.listen.port
                let url = "https://\(urlHost):\(port)"
                do {
                    if let path = options.kubeconfigOut {
                        try SimFiles.writeKubeconfig(to: path, server: url, caPEM: certificates.caPEM, token: options.token, clusterName: options.clusterName)
                    }
                    if let directory = options.inClusterDir {
                        try SimFiles.writeInCluster(to: directory, host: listenHost, port: port, caPEM: certificates.caPEM, token: options.token)
                    }
                } catch {
                    logger.error("cannot write client files", metadata: ["error": "\(error)"])
                }
                logger.info("listening", metadata: ["url": "\(url)"])
                FileHandle.standardOutput.write(Data((url + "\n").utf8))
            },
            logger: logger
        )
        var services: [any Service] = [app]
        if options.eventRate > 0 { services.append(EventGenerator(store: store, rate: options.eventRate)) }
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Watches and `logs -f` never finish by themselves: give them a moment, then cancel.
        configuration.maximumGracefulShutdownDuration = .seconds(2)
        configuration.maximumCancellationDuration = .seconds(2)
        let group = ServiceGroup(configuration: configuration)
        let watchdog = Self.shutdownWatchdog(after: .seconds(3.5), logger: logger)
        defer { watchdog.cancel() }
        try await group.run()
    }

    /// Exits the process if a shutdown overruns, before swift-service-lifecycle's cancellation
    /// deadline would stop it with a crash: a session that ignores cancellation (a port-forward
    /// tunnel held open by its client was one) must not turn every SIGTERM into a crash report.
    static func shutdownWatchdog(after limit: Duration, logger: Logger) -> any DispatchSourceSignal {
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        source.setEventHandler {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: seconds)
                logger.warning("shutdown: connections still open; exiting", metadata: ["after_seconds": "\(seconds)"])
                _exit(0)  // not exit(): no atexit handlers racing the threads still running
            }
        }
        source.resume()
        return source
    }
}
