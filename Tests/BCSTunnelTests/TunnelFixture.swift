import BCSCore
import BCSKube
import BCSTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Testing

@testable import BCSTunnel

/// A register-token check that knows one token per cluster.
struct FakeVerifier: RegisterTokenVerifier {
    let tokens: [String: String]
    func verify(clusterID: String, token: String) async throws -> Bool { tokens[clusterID] == token }
}

/// A `bcs kube-sim` process with its in-cluster layout, as the agent sees it in a pod.
final class SimProcess: Sendable {
    let process: ChildProcess
    let url: String
    let directory: String
    let token: String

    init(extra: [String] = []) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tunnel-sim-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let token = "sim-token-\(UUID().uuidString.prefix(8))"
        let process = try ChildProcess(try TestEnvironment.bcsBinary(), [
            "kube-sim", "--listen", "127.0.0.1:0", "--token", token, "--incluster-dir", directory + "/incluster", "--log-level", "warning",
        ] + extra)
        let deadline = ContinuousClock.now + .seconds(30)
        var url: String?
        while ContinuousClock.now < deadline, process.isRunning {
            if let line = process.stdout.split(separator: "\n").first, line.hasPrefix("https://") { url = String(line); break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let url else {
            process.terminate()
            throw SimDidNotStart(description: "kube-sim printed no URL; stderr: \(process.stderr)")
        }
        self.process = process
        self.url = url
        self.directory = directory
        self.token = token
    }

    struct SimDidNotStart: Error, CustomStringConvertible { let description: String }

    var inClusterDirectory: String { directory + "/incluster" }

    /// The environment a pod would have: KUBERNETES_SERVICE_HOST/PORT and the service-account directory.
    func podEnvironment() throws -> [String: String] {
        var environment = ["BCS_SERVICEACCOUNT_DIR": inClusterDirectory]
        for line in try String(contentsOfFile: inClusterDirectory + "/env", encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { environment[parts[0]] = parts[1] }
        }
        return environment
    }

    func stop() {
        if process.isRunning { process.signal(SIGTERM) }
        let deadline = Date().addingTimeInterval(6)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        process.terminate()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A gateway app hosting only the connect route, with `TunnelAcceptor` and a fake verifier.
struct TestGateway: Sendable {
    let pool: TunnelPool
    let port: Int
    let task: Task<Void, any Error>

    /// `group`: the server's event loops (NIO's shared ones unless a test needs its own).
    static func start(keepalive: TunnelKeepalive = .standard, group: EventLoopGroupProvider = .singleton) async throws -> TestGateway {
        var logger = Logger(label: "test.gateway")
        logger.logLevel = .notice
        let pool = TunnelPool()
        let acceptor = TunnelAcceptor(pool: pool, verifier: FakeVerifier(tokens: [TunnelFixture.clusterID: TunnelFixture.registerToken]),
                                      keepalive: keepalive, logger: logger)
        let router = Router(context: BCSRequestContext.self)
        acceptor.addRoute(to: router)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, eventLoopGroupProvider: group, logger: logger)
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return TestGateway(pool: pool, port: port, task: task)
    }

    func stop() async {
        pool.closeAll()
        task.cancel()
        _ = await task.result
    }
}

/// kube-sim, a gateway app hosting the connect route with `TunnelAcceptor`, and a `TunnelAgent` dialling it.
final class TunnelFixture: Sendable {
    static let clusterID = "BCS-K8S-T1"
    static let registerToken = "good-register-token"

    let sim: SimProcess
    let kube: KubeConnection
    let pool: TunnelPool
    let gatewayPort: Int
    let agent: TunnelAgent
    let appTask: Task<Void, any Error>
    let agentTask: Task<Void, any Error>

    /// `scaling`: one session unless a test asks for more, so that no test's load opens a second.
    static func start(registerToken: String = registerToken, keepalive: TunnelKeepalive = .standard,
                      scaling: TunnelScaling = TunnelScaling(maxSessions: 1), gatewayGroup: EventLoopGroupProvider = .singleton) async throws -> TunnelFixture {
        let sim = try await SimProcess()
        var logger = Logger(label: "test.tunnel")
        logger.logLevel = .notice
        let gateway = try await TestGateway.start(keepalive: keepalive, group: gatewayGroup)
        let (pool, port, appTask) = (gateway.pool, gateway.port, gateway.task)

        let kube = try KubeConnection.load(kubeconfig: nil, environment: try sim.podEnvironment())
        var configuration = TunnelAgentConfiguration(
            gateway: try GatewayAddress(parsing: "http://127.0.0.1:\(port)"), trust: GatewayTrust(), clusterID: clusterID,
            registerToken: registerToken, kube: kube, keepalive: keepalive
        )
        configuration.scaling = scaling
        let agent = TunnelAgent(configuration: configuration, logger: logger)
        let agentTask = Task { try await agent.run() }
        return TunnelFixture(sim: sim, kube: kube, pool: pool, gatewayPort: port, agent: agent, appTask: appTask, agentTask: agentTask)
    }

    private init(sim: SimProcess, kube: KubeConnection, pool: TunnelPool, gatewayPort: Int, agent: TunnelAgent, appTask: Task<Void, any Error>, agentTask: Task<Void, any Error>) {
        self.sim = sim
        self.kube = kube
        self.pool = pool
        self.gatewayPort = gatewayPort
        self.agent = agent
        self.appTask = appTask
        self.agentTask = agentTask
    }

    /// The cluster's live session, waiting up to `limit` for one.
    func session(within limit: Duration = .seconds(10), otherThan old: TunnelSession? = nil) async throws -> TunnelSession {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let session = pool.session(for: Self.clusterID), session !== old { return session }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NoSession()
    }

    struct NoSession: Error {}

    func stop() async {
        agentTask.cancel()
        pool.closeAll()
        _ = await agentTask.result
        pool.closeAll()  // a session the agent opened while being cancelled
        appTask.cancel()
        _ = await appTask.result
        sim.stop()
    }

    static func request(_ method: HTTPRequest.Method, _ path: String, _ fields: [(String, String)] = []) -> HTTPRequest {
        var head = HTTPRequest(method: method, scheme: "https", authority: "gateway", path: path)
        for (name, value) in fields { head.headerFields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return head
    }
}

extension TunnelFixture {
    /// Opens a watch of the default namespace's ConfigMaps through the session: its chunks as they
    /// arrive, and the task reading them (cancelling it drops the watch).
    static func watchConfigMaps(through session: TunnelSession) async throws -> (AsyncStream<String>, Task<Void, any Error>) {
        let watch = try await session.send(request(.get, "/api/v1/namespaces/default/configmaps?watch=1"))
        #expect(watch.head.status == .ok)
        let (events, continuation) = AsyncStream.makeStream(of: String.self)
        let reader = Task {
            for try await chunk in watch.body { continuation.yield(String(buffer: chunk)) }
            continuation.finish()
        }
        return (events, reader)
    }

    static func text(_ response: TunnelResponse, limit: Int = 8 << 20) async throws -> String {
        String(buffer: try await response.body.collect(upTo: limit))
    }
}

/// A one-element body for `send`.
struct OneBuffer: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffer: ByteBuffer
    struct AsyncIterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        mutating func next() async throws -> ByteBuffer? {
            defer { buffer = nil }
            return buffer
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}
