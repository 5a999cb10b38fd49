import ArgumentParser
import AsyncHTTPClient
import NIOSSL
import BCSCore
import BCSK8sWatch
import BCSKube
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// `bcs k8s-watch`: ships one cluster's Events and resources into the storage role.
struct K8sWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8s-watch",
        abstract: "Watch a cluster's Events and resources and ship them to storage.",
        discussion: """
            Lists, then watches each resource from the list's resourceVersion (bookmarks on), \
            resumes from the last version after a disconnect and lists again only on 410 Gone. \
            Events go to POST /events/batch in batches (storage upserts by uid, so retries and \
            relists never duplicate); other resources are PUT/DELETEd in the dynamic-resource \
            routes, with a periodic reconcile. The queues are bounded: when full the watches \
            pause (backpressure); anything dropped is counted in /metrics and logged.

            The apiserver comes from --kubeconfig, else the in-cluster service account \
            (KUBERNETES_SERVICE_HOST/PORT; BCS_SERVICEACCOUNT_DIR overrides the directory). \
            Storage is --storage-url (adds /bcsstorage/v1) or --bke-address with --token (adds \
            /bcsapi/v4/storage; the token may come from BCS_TOKEN instead, to keep it out of \
            process lists). /healthz and /metrics are served on --listen-addr. Docs/k8s-watch.md \
            has the details.
            """
    )

    @Option(name: .customLong("cluster-id"), help: ArgumentHelp("The BCS cluster ID stored with every object.", valueName: "id"))
    var clusterId: String

    @Option(name: .customLong("storage-url"), help: ArgumentHelp("Storage role base URL, e.g. http://storage:8080.", valueName: "url"))
    var storageURL: String?

    @Option(name: .customLong("bke-address"), help: ArgumentHelp("Gateway base URL; storage is reached at /bcsapi/v4/storage.", valueName: "url"))
    var bkeAddress: String?

    @Option(help: ArgumentHelp("Bearer token for --bke-address. [env: BCS_TOKEN] (SERVER_CERT: PEM CA of the gateway, when the system does not trust it)", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Kubeconfig file; without it the in-cluster service account is used.", valueName: "file"))
    var kubeconfig: String?

    @Option(help: ArgumentHelp("Comma-separated kinds to capture.", valueName: "kinds"))
    var resources: String = "Event,Pod,Deployment,Service,Node,Namespace,ConfigMap"

    @Option(help: ArgumentHelp("Comma-separated namespaces to watch (default: all).", valueName: "names"))
    var namespaces: String = ""

    @Option(name: .customLong("listen-addr"), help: ArgumentHelp("HOST:PORT for /healthz and /metrics.", valueName: "host:port"))
    var listenAddr: String = "0.0.0.0:8090"

    @Option(name: .customLong("queue-size"), help: ArgumentHelp("Most events (and, separately, object changes) held before the watches pause.", valueName: "n"))
    var queueSize: Int = 10_000

    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Events per POST /events/batch (1–1000).", valueName: "n"))
    var batchSize: Int = 500

    @Option(name: .customLong("flush-interval"), help: ArgumentHelp("Milliseconds the first event of a batch may wait for more.", valueName: "ms"))
    var flushInterval: Int = 200

    @Option(help: ArgumentHelp("Event batches in flight at once.", valueName: "n"))
    var shippers: Int = 4

    @Option(name: .customLong("max-block"), help: ArgumentHelp("Seconds a full queue may pause the watches before the oldest waiting entry is dropped (the apiserver's event TTL).", valueName: "seconds"))
    var maxBlock: Int = 3600

    @Option(name: .customLong("watch-timeout"), help: ArgumentHelp("timeoutSeconds of each watch request.", valueName: "seconds"))
    var watchTimeout: Int = 300

    @Option(name: .customLong("reconcile-interval"), help: ArgumentHelp("Seconds between reconcile passes of non-Event resources.", valueName: "seconds"))
    var reconcileInterval: Int = 300

    @Option(name: .customLong("reconcile-delay"), help: ArgumentHelp("Seconds after start before the first reconcile pass.", valueName: "seconds"))
    var reconcileDelay: Int = 30

    @Option(name: .customLong("shutdown-timeout"), help: ArgumentHelp("Seconds a graceful shutdown may spend delivering what is queued.", valueName: "seconds"))
    var shutdownTimeout: Int = 10

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace|debug|info|notice|warning|error|critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(name: .customLong("log-format"), help: ArgumentHelp("text|json.", valueName: "format"))
    var logFormat: String = "text"

    func validate() throws {
        guard !clusterId.isEmpty else { throw ValidationError("--cluster-id must not be empty") }
        guard (storageURL == nil) != (bkeAddress == nil) else { throw ValidationError("give exactly one of --storage-url and --bke-address") }
        if bkeAddress != nil, (token ?? ProcessInfo.processInfo.environment["BCS_TOKEN"] ?? "").isEmpty {
            throw ValidationError("--bke-address needs --token (or BCS_TOKEN)")
        }
        for url in [storageURL, bkeAddress].compactMap({ $0 }) where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("\(url) is not an http:// or https:// URL")
        }
        guard (1...1000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 1000") }
        guard (1...16).contains(shippers) else { throw ValidationError("--shippers must be between 1 and 16") }
        guard queueSize >= batchSize else { throw ValidationError("--queue-size must be at least --batch-size") }
        guard flushInterval >= 0, maxBlock > 0, watchTimeout > 0, reconcileInterval > 0, reconcileDelay >= 0, shutdownTimeout > 0 else {
            throw ValidationError("intervals and timeouts must be positive")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("unknown --log-format \(logFormat)") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingBootstrap.bootstrap(level: level, format: LogFormat(rawValue: logFormat) ?? .text)
        MetricsBootstrap.bootstrap()
        var logger = Logger(label: "bcs.k8s-watch")
        logger.logLevel = level

        var options = K8sWatchOptions(clusterId: clusterId)
        let listen: ListenAddress
        do {
            options.resources = try K8sWatchOptions.parseResources(resources)
            listen = try ListenAddress(parsing: listenAddr)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        options.namespaces = namespaces.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        options.eventQueueCapacity = queueSize
        options.resourceQueueCapacity = queueSize
        options.batchSize = batchSize
        options.eventShippers = shippers
        options.flushInterval = .milliseconds(flushInterval)
        options.maxBlock = .seconds(maxBlock)
        options.watchTimeout = watchTimeout
        options.reconcileInterval = .seconds(reconcileInterval)
        options.reconcileInitialDelay = .seconds(reconcileDelay)

        let connection: KubeConnection
        do {
            connection = try KubeConnection.load(kubeconfig: kubeconfig)
        } catch {
            throw ValidationError("\(error)")
        }
        let kubeHTTP = try connection.makeHTTPClient(maximumConnections: options.resources.count * max(options.namespaces.count, 1) + 4)
        // SERVER_CERT (PEM, as kube-agent reads it) is the CA of a gateway whose certificate the
        // system does not trust (a private CA or the demo's self-signed one).
        var storageTLS = TLSConfiguration.makeClientConfiguration()
        if let pem = ProcessInfo.processInfo.environment["SERVER_CERT"], !pem.isEmpty {
            do {
                storageTLS.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            } catch {
                throw ValidationError("SERVER_CERT is not a PEM certificate: \(error)")
            }
        }
        let storageHTTP = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            tlsConfiguration: storageTLS, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(60)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.eventShippers + options.resourceShippers + 2)))
        let storage: StorageClient
        if let storageURL {
            storage = .direct(url: storageURL, httpClient: storageHTTP)
        } else {
            storage = .gateway(address: bkeAddress ?? "", token: token ?? ProcessInfo.processInfo.environment["BCS_TOKEN"] ?? "", httpClient: storageHTTP)
        }
        let watcher = K8sWatchService(options: options, client: KubeWatchClient(connection: connection, httpClient: kubeHTTP),
                                      storage: storage, logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: HealthEndpoints.application(host: listen.host, port: listen.port, logger: logger)), .init(service: watcher)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(shutdownTimeout)
        configuration.maximumCancellationDuration = .seconds(3)
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            try? await kubeHTTP.shutdown()
            try? await storageHTTP.shutdown()
            throw error
        }
        try? await kubeHTTP.shutdown()
        try? await storageHTTP.shutdown()
    }
}
