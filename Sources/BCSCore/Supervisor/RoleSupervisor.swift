import Logging
import ServiceLifecycle

/// The supervisor of one role's background services: a child `ServiceGroup` of the process root.
///
/// Services are normally `RestartingService`s, so the group only fails when one of them exhausts its
/// restart budget; the failure then propagates to the root, which shuts the process down. A role with
/// no background services simply waits for shutdown, so an empty role never ends the process.
public struct RoleSupervisor: Service, CustomStringConvertible {
    public let role: String
    private let services: [any Service]
    private let logger: Logger

    public init(role: String, services: [any Service], logger: Logger) {
        self.role = role
        self.services = services
        self.logger = logger
    }

    public var description: String { "RoleSupervisor(\(role))" }

    public func run() async throws {
        logger.info("role started", metadata: ["role": "\(role)", "services": "\(services.count)"])
        defer { logger.info("role stopped", metadata: ["role": "\(role)"]) }
        guard !services.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        try await group.run()
    }
}
