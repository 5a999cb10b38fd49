import ArgumentParser
import BCSCore

/// `bcs`: one binary for every BCS role.
@main
struct BCSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bcs",
        abstract: "BCS multi-cluster Kubernetes control plane, in Swift.",
        discussion: """
            One binary hosts every role. `bcs serve` runs the control-plane roles (gateway, \
            usermanager, storage) in one process, in any combination; run more processes of \
            each role against one MongoDB to scale out.

            Configuration comes from flags, then BCS_* environment variables, then a YAML file \
            given with --config, in that order of precedence.
            """,
        version: BCSVersion.current,
        subcommands: [ServeCommand.self, KubeSimCommand.self, KubeAgentCommand.self, K8sWatchCommand.self, VersionCommand.self, AgentFleetCommand.self]
    )
}
