import Foundation

/// A private nx-27017 (MongoDB wire-protocol server) for tests that stop and restart their server.
///
/// It gets its own port, data directory and pid file: nx-27017 refuses to start while another
/// instance holds its default pid file, and without `--data-dir` all databases share one file.
public final class NXServer: @unchecked Sendable {
    // Invariant: `child` is only replaced by start()/stop(), which a test calls sequentially.
    public let port: Int
    private let executable: String
    private let directory: URL
    private var child: ChildProcess?

    public init() throws {
        executable = try TestEnvironment.nxExecutable()
        port = try freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-nx-\(port)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public func uri(options: String = "") -> String {
        "mongodb://127.0.0.1:\(port)/" + (options.isEmpty ? "" : "?\(options)")
    }

    /// Starts the server and waits until it accepts TCP connections.
    public func start() async throws {
        let child = try ChildProcess(executable, [
            "--data-dir", directory.appendingPathComponent("data").path, "--host", "127.0.0.1", "-p", String(port),
            "--pid-file", directory.appendingPathComponent("pid").path, "--log-file", directory.appendingPathComponent("log").path,
        ])
        self.child = child
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if Self.canConnect(port: port) { return }
            if !child.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NXStartFailure(output: child.stderr + child.stdout)
    }

    /// Kills the server (SIGKILL: like a crash or a lost node) and waits for it to be gone.
    public func kill() async {
        guard let child else { return }
        child.signal(SIGKILL)
        _ = await child.wait(timeout: .seconds(10))
        try? FileManager.default.removeItem(at: directory.appendingPathComponent("pid"))
        self.child = nil
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open but nothing answers.
    public func freeze() { child?.signal(SIGSTOP) }
    public func thaw() { child?.signal(SIGCONT) }

    deinit {
        child?.signal(SIGCONT)
        child?.terminate()
        try? FileManager.default.removeItem(at: directory)
    }

    public struct NXStartFailure: Error, CustomStringConvertible {
        public let output: String
        public var description: String { "nx-27017 did not start: \(output)" }
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
