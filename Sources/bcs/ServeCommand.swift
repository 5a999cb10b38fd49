import ArgumentParser
import BCSCore
import BCSMongo
import BCSServer
import Foundation
import Logging

/// `bcs serve`: the control-plane process.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run control-plane roles: gateway, usermanager, storage (any subset).",
        discussion: """
            Every setting can also be given as an environment variable (BCS_ plus the flag name \
            in upper case with underscores, e.g. BCS_MONGODB_URI) or as a key in the YAML file \
            named by --config (e.g. `mongodb-uri: mongodb://db:27017`). Flags win over the \
            environment, which wins over the file.

            Endpoints served whatever the roles: /healthz (process alive), /readyz (200 while \
            MongoDB answers a ping, 503 with the reason otherwise), /metrics (Prometheus).

            SIGTERM or SIGINT starts a graceful shutdown: the listener closes, in-flight requests \
            finish, then the process exits 0 — within --shutdown-timeout seconds.

            Exit codes: 0 after a graceful shutdown; 1 for a configuration error (unknown role, \
            malformed URI, unreadable TLS file, port in use) or a fatal runtime failure.
            """
    )

    @Option(help: ArgumentHelp("Comma-separated roles to host: \(Role.validNames). [env: BCS_ROLES] (default: all)", valueName: "roles"))
    var roles: String?

    @Option(help: ArgumentHelp("HOST:PORT to listen on. [env: BCS_LISTEN] (default: 127.0.0.1:8080)", valueName: "host:port"))
    var listen: String?

    @Option(name: .customLong("mongodb-uri"), help: ArgumentHelp("MongoDB connection string. [env: BCS_MONGODB_URI] (default: mongodb://127.0.0.1:27017)", valueName: "uri"))
    var mongodbURI: String?

    @Option(help: ArgumentHelp("MongoDB database name. [env: BCS_DATABASE] (default: bcs)", valueName: "name"))
    var database: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate chain; with --tls-key, serve HTTPS. [env: BCS_TLS_CERT]", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key for --tls-cert. [env: BCS_TLS_KEY]", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace|debug|info|notice|warning|error|critical. [env: BCS_LOG_LEVEL] (default: info)", valueName: "level"))
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: ArgumentHelp("text|json (JSON: one object per line). [env: BCS_LOG_FORMAT] (default: text)", valueName: "format"))
    var logFormat: String?

    @Option(name: .customLong("shutdown-timeout"), help: ArgumentHelp("Seconds a graceful shutdown may take. [env: BCS_SHUTDOWN_TIMEOUT] (default: 25)", valueName: "seconds"))
    var shutdownTimeout: String?

    @Option(name: .customLong("mongodb-threads"), help: ArgumentHelp("Threads for blocking MongoDB calls. [env: BCS_MONGODB_THREADS] (default: 8)", valueName: "n"))
    var mongodbThreads: String?

    @Option(name: .customLong("readiness-interval"), help: ArgumentHelp("Seconds between MongoDB pings behind /readyz. [env: BCS_READINESS_INTERVAL] (default: 2)", valueName: "seconds"))
    var readinessInterval: String?

    // Storage role (bcs-storage's event_max_day, event_max_cap, alarm_max_day, alarm_max_cap).
    @Option(name: .customLong("event-max-day"), help: ArgumentHelp("Storage: days events are kept. [env: BCS_EVENT_MAX_DAY] (default: 15)", valueName: "days"))
    var eventMaxDay: String?

    @Option(name: .customLong("event-max-cap"), help: ArgumentHelp("Storage: most events kept per cluster. [env: BCS_EVENT_MAX_CAP] (default: 10000)", valueName: "n"))
    var eventMaxCap: String?

    @Option(name: .customLong("alarm-max-day"), help: ArgumentHelp("Storage: days alarms are kept. [env: BCS_ALARM_MAX_DAY] (default: 15)", valueName: "days"))
    var alarmMaxDay: String?

    @Option(name: .customLong("alarm-max-cap"), help: ArgumentHelp("Storage: most alarms kept per cluster. [env: BCS_ALARM_MAX_CAP] (default: 10000)", valueName: "n"))
    var alarmMaxCap: String?

    @Option(name: .customLong("retention-interval"), help: ArgumentHelp("Storage: seconds between retention passes. [env: BCS_RETENTION_INTERVAL] (default: 3600)", valueName: "seconds"))
    var retentionInterval: String?

    @Option(name: .customLong("secret-key-file"), help: ArgumentHelp("usermanager: file holding the server secret (32+ bytes) that keys token hashes and encrypts stored secrets. [env: BCS_SECRET_KEY_FILE]", valueName: "file"))
    var secretKeyFile: String?

    @Option(name: .customLong("secret-key"), help: ArgumentHelp("usermanager: the server secret itself (32+ bytes); prefer the environment (BCS_SECRET_KEY) or --secret-key-file, which stay out of process lists. [env: BCS_SECRET_KEY]", valueName: "secret"))
    var secretKey: String?

    @Option(name: .customLong("dev-generate-secret"), help: ArgumentHelp("usermanager, development only: true to generate a secret for this run when none is configured (stored tokens become unreadable after a restart). [env: BCS_DEV_GENERATE_SECRET] (default: false)", valueName: "bool"))
    var devGenerateSecret: String?

    @Option(name: .customLong("bootstrap-admin"), help: ArgumentHelp("usermanager: NAME:TOKEN of an admin created or updated at start-up, so BCS's documented curl commands work with a known token. [env: BCS_BOOTSTRAP_ADMIN]", valueName: "name:token"))
    var bootstrapAdmin: String?

    @Option(name: .customLong("credential-poll-interval"), help: ArgumentHelp("usermanager: seconds between reads of credential changes made by other processes. [env: BCS_CREDENTIAL_POLL_INTERVAL] (default: 2)", valueName: "seconds"))
    var credentialPollInterval: String?

    @Option(name: .customLong("gateway-probe-interval"), help: ArgumentHelp("gateway: seconds between /readyz probes of every cluster's apiserver. [env: BCS_GATEWAY_PROBE_INTERVAL] (default: 30)", valueName: "seconds"))
    var gatewayProbeInterval: String?

    @Option(name: .customLong("usermanager-url"), help: ArgumentHelp("gateway without the usermanager role: base URL of a user-manager process for /bcsapi/v4/usermanager/. [env: BCS_USERMANAGER_URL]", valueName: "url"))
    var usermanagerURL: String?

    @Option(name: .customLong("storage-url"), help: ArgumentHelp("gateway without the storage role: base URL of a storage process for /bcsapi/v4/storage/. [env: BCS_STORAGE_URL]", valueName: "url"))
    var storageURL: String?

    @Option(name: .customLong("kubeconfig-server"), help: ArgumentHelp("gateway: public base URL written into kubeconfigs (default: scheme and Host of the request). [env: BCS_KUBECONFIG_SERVER]", valueName: "url"))
    var kubeconfigServer: String?

    @Option(name: .customLong("kubeconfig-ca-file"), help: ArgumentHelp("gateway: PEM CA written into kubeconfigs (default: --tls-cert). [env: BCS_KUBECONFIG_CA_FILE]", valueName: "file"))
    var kubeconfigCAFile: String?

    @Option(name: .customLong("impersonate"), help: ArgumentHelp("gateway: forward non-admin users with Impersonate-User/Group so each cluster's RBAC applies. [env: BCS_IMPERSONATE] (default: false)", valueName: "bool"))
    var impersonate: String?

    @Option(name: .customLong("gateway-fast-path"), help: ArgumentHelp("gateway: carry plain GETs with a cached access decision on the connection's event loop. [env: BCS_GATEWAY_FAST_PATH] (default: true)", valueName: "bool"))
    var gatewayFastPath: String?

    @Option(name: .customLong("peer-secret"), help: ArgumentHelp("gateway replicas: secret shared by every replica; requests for a cluster whose agent tunnel another replica holds are forwarded there. Prefer BCS_PEER_SECRET. [env: BCS_PEER_SECRET]", valueName: "secret"))
    var peerSecret: String?

    @Option(name: .customLong("peer-url"), help: ArgumentHelp("gateway replicas: where the other replicas reach this one, e.g. https://$(POD_IP):8443 with POD_IP from the pod's status.podIP; publishes this replica's tunnels. [env: BCS_PEER_URL]", valueName: "url"))
    var peerURL: String?

    @Option(name: .customLong("peer-ca-file"), help: ArgumentHelp("gateway replicas: PEM CA of the other replicas' certificates for https:// peer URLs (default: system roots); peers are dialled by IP, so with this CA the certificate's names are not checked. [env: BCS_PEER_CA_FILE]", valueName: "file"))
    var peerCAFile: String?

    @Option(help: ArgumentHelp("YAML file of settings (keys as the flag names). [env: BCS_CONFIG]", valueName: "file"))
    var config: String?

    /// The flags given on the command line, keyed like the YAML file and the environment.
    private var givenFlags: [String: String] {
        let pairs: [(String, String?)] = [
            ("roles", roles), ("listen", listen), ("mongodb-uri", mongodbURI), ("database", database),
            ("tls-cert", tlsCert), ("tls-key", tlsKey), ("log-level", logLevel), ("log-format", logFormat),
            ("shutdown-timeout", shutdownTimeout), ("mongodb-threads", mongodbThreads), ("readiness-interval", readinessInterval),
            ("event-max-day", eventMaxDay), ("event-max-cap", eventMaxCap), ("alarm-max-day", alarmMaxDay), ("alarm-max-cap", alarmMaxCap),
            ("retention-interval", retentionInterval),
            ("secret-key-file", secretKeyFile), ("secret-key", secretKey), ("dev-generate-secret", devGenerateSecret),
            ("bootstrap-admin", bootstrapAdmin), ("credential-poll-interval", credentialPollInterval),
            ("gateway-probe-interval", gatewayProbeInterval), ("usermanager-url", usermanagerURL), ("storage-url", storageURL),
            ("kubeconfig-server", kubeconfigServer), ("kubeconfig-ca-file", kubeconfigCAFile), ("impersonate", impersonate), ("gateway-fast-path", gatewayFastPath),
            ("peer-secret", peerSecret), ("peer-url", peerURL), ("peer-ca-file", peerCAFile),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.compactMap { key, value in value.map { (key, $0) } })
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServeConfiguration
        do {
            let configPath = config ?? environment["BCS_CONFIG"]
            let file = try configPath.map { try LayeredSettings.loadYAML(path: $0, knownKeys: ServeConfiguration.settingKeys) } ?? [:]
            configuration = try ServeConfiguration.resolve(
                LayeredSettings(flags: givenFlags, environment: environment, file: file, filePath: configPath)
            )
        } catch let error as ConfigurationError {
            fail(error.message)
        }

        LoggingBootstrap.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        MetricsBootstrap.bootstrap()
        var logger = Logger(label: "bcs.serve")
        logger.logLevel = configuration.logLevel
        MongoDriverInfo.routeLogs(to: Logger(label: "bcs.mongoc"))

        do {
            try await ServeProcess(configuration: configuration, logger: logger).run()
        } catch let error as ConfigurationError {
            fail(error.message)
        } catch {
            logger.critical("stopped after a fatal error", metadata: ["error": "\(error)"])
            fail("stopped after a fatal error: \(error)")
        }
        logger.info("shut down cleanly")
    }

    /// Prints the one line an operator needs and exits 1.
    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("bcs: error: \(message)\n".utf8))
        Foundation.exit(1)
    }
}
