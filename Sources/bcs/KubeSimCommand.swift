import ArgumentParser
import BCSCore
import Foundation
import KubeSim
import Logging

/// `bcs kube-sim`: a Kubernetes API simulator that real kubectl can drive.
struct KubeSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-sim",
        abstract: "Run a Kubernetes API simulator (HTTPS, bearer token) that kubectl can drive.",
        discussion: """
            Serves /version, /readyz, /livez, /healthz, discovery (/api, /apis, aggregated or \
            legacy), OpenAPI v3 and v2, and namespaces, pods, configmaps, secrets, serviceaccounts, \
            services, events, nodes (core/v1) and deployments (apps/v1): get, list (label/field \
            selectors, limit/continue), watch, create (JSON or kubectl 1.32+'s protobuf), update, \
            merge, strategic-merge and JSON patch, delete, deletecollection, deployments/scale, \
            pods/log, pods/exec and pods/attach over WebSocket and SPDY/3.1 (a tiny built-in shell), \
            and pods/portforward (every port echoes) over SPDY, SPDY-in-WebSocket and WebSocket. \
            HTTP/2 by ALPN unless --no-http2 (HTTP/1.1 always for upgrades). A CA and a server certificate are generated at every \
            start. Once listening, the server URL is printed on stdout (the chosen port when \
            --listen asks for port 0). Docs/kube-sim.md lists what is simulated and what is not.

            Bounded memory: at most --max-objects stored objects (default \(KubeSimOptions.defaultMaxObjects)); \
            a create beyond that fails with 507. The watch window keeps the last --watch-window \
            changes (default \(KubeSimOptions.defaultWatchWindow)); a watch from an older \
            resourceVersion gets an ERROR event with a 410 Expired Status.

            SIGTERM or SIGINT stops it.
            """
    )

    @Option(help: ArgumentHelp("HOST:PORT to listen on; port 0 picks a free port.", valueName: "host:port"))
    var listen: String = "127.0.0.1:0"

    @Option(help: ArgumentHelp("Bearer token accepted; any other request gets 401 Unauthorized.", valueName: "token"))
    var token: String = "kube-sim-token"

    @Option(name: .customLong("kubeconfig-out"), help: ArgumentHelp("Write a kubeconfig (server URL, CA, token) to this file once listening.", valueName: "file"))
    var kubeconfigOut: String?

    @Option(name: .customLong("incluster-dir"), help: ArgumentHelp("Write token, ca.crt, namespace and env (KUBERNETES_SERVICE_HOST/PORT) here, as a pod's service-account mount.", valueName: "dir"))
    var inClusterDir: String?

    @Option(name: .customLong("cluster-name"), help: ArgumentHelp("Cluster name used in the kubeconfig and the CA's name.", valueName: "name"))
    var clusterName: String = "kube-sim"

    @Option(name: .customLong("event-rate"), help: ArgumentHelp("Generate this many Events per second across namespaces and objects.", valueName: "n"))
    var eventRate: Double = 0

    @Option(name: .customLong("max-objects"), help: ArgumentHelp("Most objects stored at once.", valueName: "n"))
    var maxObjects: Int = KubeSimOptions.defaultMaxObjects

    @Option(name: .customLong("watch-window"), help: ArgumentHelp("Changes kept for watch resumption.", valueName: "n"))
    var watchWindow: Int = KubeSimOptions.defaultWatchWindow

    @Option(name: .customLong("bookmark-interval"), help: ArgumentHelp("Seconds between BOOKMARK events on watches that allow them.", valueName: "seconds"))
    var bookmarkInterval: Double = 10

    @Flag(name: .customLong("http2"), inversion: .prefixedNo,
          help: "Offer HTTP/2 by ALPN, as an apiserver does (kubectl then uses it for everything but exec, attach and port-forward).")
    var http2 = true

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace|debug|info|notice|warning|error|critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard !token.isEmpty else { throw ValidationError("--token must not be empty") }
        guard maxObjects > 0, watchWindow > 0 else { throw ValidationError("--max-objects and --watch-window must be positive") }
        guard eventRate >= 0, eventRate <= 10_000 else { throw ValidationError("--event-rate must be between 0 and 10000") }
        guard bookmarkInterval >= 0.05 else { throw ValidationError("--bookmark-interval must be at least 0.05 seconds") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        var options = KubeSimOptions()
        do {
            options.listen = try ListenAddress(parsing: listen)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        options.token = token
        options.kubeconfigOut = kubeconfigOut
        options.inClusterDir = inClusterDir
        options.clusterName = clusterName
        options.eventRate = eventRate
        options.maxObjects = maxObjects
        options.watchWindow = watchWindow
        options.bookmarkInterval = .milliseconds(Int64(bookmarkInterval * 1000))
        options.http2 = http2
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingBootstrap.bootstrap(level: level, format: .text)
        var logger = Logger(label: "bcs.kube-sim")
        logger.logLevel = level
        try await KubeSimServer(options: options, logger: logger).run()
    }
}
