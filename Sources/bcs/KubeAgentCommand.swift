import ArgumentParser
import BCSCore
import BCSKube
import BCSTunnel
import Foundation
import Logging

/// `bcs kube-agent`: runs in a managed cluster and reports its credentials or holds the reverse tunnel.
struct KubeAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-agent",
        abstract: "Report this cluster's apiserver credentials to BCS, or hold a reverse tunnel to the gateway.",
        discussion: """
            The flags and environment of BCS's bcs-kube-agent. Report mode (the default) PUTs the \
            apiserver address, CA and service-account token to {bke-address}/bcsapi/v4/usermanager/v1/\
            clusters/{cluster-id}/credentials now and every --periodsync seconds, reading the token \
            file again each time. Tunnel mode (--use-websocket) dials \
            {bke-address}/bcsapi/v4/usermanager/v1/websocket/connect and serves the gateway's requests \
            for this cluster's apiserver over it (Docs/tunnel.md).

            The apiserver comes from --kubeconfig, else the pod's in-cluster layout \
            (KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount; \
            BCS_SERVICEACCOUNT_DIR replaces that directory).

            Environment: REGISTER_TOKEN (required), SERVER_CERT (PEM CA that signed the gateway's \
            certificate). --insecureSkipVerify and --use-websocket also accept Go's =true/=false form.
            """
    )

    @Option(name: .customLong("bke-address"), help: ArgumentHelp("The BCS gateway, e.g. https://bcs-api-gateway:8443.", valueName: "url"))
    var bkeAddress: String

    @Option(name: .customLong("cluster-id"), help: ArgumentHelp("This cluster's ID in BCS.", valueName: "id"))
    var clusterID: String

    @Option(name: .customLong("periodsync"), help: ArgumentHelp("Seconds between reports (and token re-reads).", valueName: "seconds"))
    var periodSync: Double = 60

    @Option(name: .customLong("kubeconfig"), help: ArgumentHelp("A kubeconfig for the apiserver; in-cluster config when absent.", valueName: "file"))
    var kubeconfig: String?

    @Option(name: .customLong("external-proxy-addresses"),
            help: ArgumentHelp("Apiserver addresses to report instead of the in-cluster one (https://…, separated by ';' or ',').", valueName: "urls"))
    var externalProxyAddresses: String = ""

    @Option(name: .customLong("listen-addr"), help: ArgumentHelp("Serve /healthz and /metrics here.", valueName: "host:port"))
    var listenAddr: String = "0.0.0.0:10254"

    @Option(name: .customLong("tunnel-sessions"),
            help: ArgumentHelp("Tunnel mode: most sessions to hold; more than one opens under load and closes when idle (default: cores, at most 4).",
                               valueName: "n"))
    var tunnelSessions: Int?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace|debug|info|notice|warning|error|critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(name: .customLong("log-format"), help: ArgumentHelp("text or json.", valueName: "format"))
    var logFormat: String = "text"

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("--insecureSkipVerify[=true|false] --use-websocket[=true|false]"))
    var switches: [String] = []

    /// BCS's boolean switches (pflag style: bare, or `=true`/`=false`).
    func switchValue(_ name: String) throws -> Bool {
        var result = false
        for item in switches {
            let trimmed = item.hasPrefix("--") ? String(item.dropFirst(2)) : item.hasPrefix("-") ? String(item.dropFirst()) : item
            let parts = trimmed.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.first == name else { continue }
            switch parts.count == 2 ? parts[1].lowercased() : "true" {
            case "true", "1", "t": result = true
            case "false", "0", "f": result = false
            default: throw ValidationError("--\(name) takes true or false, not '\(parts[1])'")
            }
        }
        return result
    }

    func validate() throws {
        for item in switches {
            let name = item.drop(while: { $0 == "-" }).split(separator: "=").first.map(String.init) ?? item
            guard ["insecureSkipVerify", "use-websocket"].contains(name), item.hasPrefix("-") else {
                throw ValidationError("unknown argument '\(item)'")
            }
        }
        _ = try switchValue("insecureSkipVerify")
        _ = try switchValue("use-websocket")
        if let tunnelSessions, !(1...64).contains(tunnelSessions) { throw ValidationError("--tunnel-sessions must be 1 to 64") }
        guard periodSync >= 0.1 else { throw ValidationError("--periodsync must be positive") }
        guard !clusterID.isEmpty else { throw ValidationError("--cluster-id must not be empty") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingBootstrap.bootstrap(level: level, format: logFormat == "json" ? .json : .text)
        var logger = Logger(label: "bcs.kube-agent")
        logger.logLevel = level
        let environment = ProcessInfo.processInfo.environment
        guard let registerToken = environment["REGISTER_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !registerToken.isEmpty else {
            throw ValidationError("REGISTER_TOKEN is not set: put the cluster's register token (POST …/clusters/{id}/register_tokens) in it")
        }
        let gateway: GatewayAddress
        let kube: KubeConnection
        let listen: ListenAddress
        do {
            gateway = try GatewayAddress(parsing: bkeAddress)
            kube = try KubeConnection.load(kubeconfig: kubeconfig, environment: environment)
            listen = try ListenAddress(parsing: listenAddr)
        } catch let error as KubeConnectionError {
            throw ValidationError(error.description)
        } catch let error as AgentError {
            throw ValidationError(error.description)
        } catch let error as ConfigurationError {
            throw ValidationError(error.message)
        }
        let external = externalProxyAddresses.split(whereSeparator: { $0 == ";" || $0 == "," })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for address in external where !address.lowercased().hasPrefix("https://") {
            throw ValidationError("--external-proxy-addresses: '\(address)' must start with https://")
        }
        let insecure = try switchValue("insecureSkipVerify")
        var serverCA = environment["SERVER_CERT"].flatMap { $0.isEmpty ? nil : $0 }
        if insecure { serverCA = nil }
        var options = KubeAgentRunner.Options(
            gateway: gateway, trust: GatewayTrust(insecureSkipVerify: insecure, caPEM: serverCA), clusterID: clusterID,
            registerToken: registerToken, kube: kube, period: .milliseconds(Int64(periodSync * 1000)),
            useTunnel: try switchValue("use-websocket"), externalAddresses: external, listen: listen
        )
        if let tunnelSessions { options.scaling = TunnelScaling(maxSessions: tunnelSessions) }
        try await KubeAgentRunner(options: options, logger: logger).run()
    }
}
