import ArgumentParser
import BCSCore
import BCSKube
import BCSTunnel
import Foundation
import Logging

/// `bcs agent-fleet`: many simulated tunnel agents in one process, for load tests and benchmarks.
///
/// A thousand real `bcs kube-agent` processes would need gigabytes of memory on the machine that
/// runs them; the gateway cannot tell these apart from real agents (each is a `TunnelAgent` with
/// its own connection, handshake, register token and keepalive). Hidden from `bcs --help`.
struct AgentFleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-fleet",
        abstract: "Run many simulated tunnel agents in one process (load tests).",
        discussion: """
            Reads --clusters: one line per agent, "<cluster-id> <register-token>". Every agent \
            forwards to the apiserver of --kubeconfig. Prints "connected X/N" whenever the count of \
            live sessions changes (at most every --report-every seconds) and "all N connected" each \
            time every agent has a live session again.
            """,
        shouldDisplay: false
    )

    @Option(name: .customLong("bke-address"), help: ArgumentHelp("The BCS gateway.", valueName: "url"))
    var bkeAddress: String

    @Option(name: .customLong("clusters"), help: ArgumentHelp("File of \"<cluster-id> <register-token>\" lines.", valueName: "file"))
    var clusters: String

    @Option(name: .customLong("kubeconfig"), help: ArgumentHelp("The apiserver every agent forwards to.", valueName: "file"))
    var kubeconfig: String

    @Option(name: .customLong("report-every"), help: ArgumentHelp("Seconds between progress lines.", valueName: "seconds"))
    var reportEvery: Double = 0.2

    @Flag(name: .customLong("insecureSkipVerify"), help: "Do not verify the gateway's certificate.")
    var insecureSkipVerify = false

    func run() async throws {
        LoggingBootstrap.bootstrap(level: .critical, format: .text)
        let logger = Logger(label: "bcs.agent-fleet")
        let environment = ProcessInfo.processInfo.environment
        let gateway = try GatewayAddress(parsing: bkeAddress)
        let kube = try KubeConnection.load(kubeconfig: kubeconfig, environment: environment)
        let trust = GatewayTrust(insecureSkipVerify: insecureSkipVerify, caPEM: environment["SERVER_CERT"])
        let agents = try String(contentsOfFile: clusters, encoding: .utf8).split(separator: "\n").compactMap { line -> TunnelAgent? in
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { return nil }
            return TunnelAgent(configuration: TunnelAgentConfiguration(
                gateway: gateway, trust: trust, clusterID: String(fields[0]), registerToken: String(fields[1]), kube: kube
            ), logger: logger)
        }
        guard !agents.isEmpty else { throw ValidationError("--clusters lists no \"<cluster-id> <register-token>\" lines") }
        FileHandle.standardOutput.write(Data("starting \(agents.count) agents\n".utf8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for agent in agents { group.addTask { try await agent.run() } }
            group.addTask {
                var last = -1
                let started = ContinuousClock.now
                while !Task.isCancelled {
                    let live = agents.reduce(0) { $0 + ($1.stats == nil ? 0 : 1) }
                    if live != last {
                        let elapsed = (ContinuousClock.now - started).seconds
                        var line = String(format: "connected %d/%d at %.2f s\n", live, agents.count, elapsed)
                        if live == agents.count { line += "all \(agents.count) connected\n" }
                        // Unbuffered: the benchmark script reads these lines while the fleet runs.
                        FileHandle.standardOutput.write(Data(line.utf8))
                        last = live
                    }
                    try await Task.sleep(for: .milliseconds(Int64(reportEvery * 1000)))
                }
            }
            try await group.next()
        }
    }
}
