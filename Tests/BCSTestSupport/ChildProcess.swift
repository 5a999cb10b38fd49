import Foundation
import Synchronization

/// A child process started by a test, with its output captured.
public final class ChildProcess: Sendable {
    private let process: Process
    private let stdoutBuffer = OutputBuffer()
    private let stderrBuffer = OutputBuffer()

    /// Starts `executable` with `arguments`; `environment` is added to the test process's own.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let stdoutBuffer = self.stdoutBuffer
        let stderrBuffer = self.stderrBuffer
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            stdoutBuffer.append(data)
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            stderrBuffer.append(data)
        }
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var stdout: String { stdoutBuffer.text }
    public var stderr: String { stderrBuffer.text }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits up to `timeout` for the process to exit; returns its exit status, or nil if it is still running.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Give the pipe handlers a moment to drain the last output.
        try? await Task.sleep(for: .milliseconds(50))
        return process.terminationStatus
    }

    /// Kills the process if it is still running (test cleanup).
    public func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Runs a command to completion and returns its status and output.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(30)) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments, environment: environment)
        let status = await child.wait(timeout: timeout)
        child.terminate()
        return (status, child.stdout, child.stderr)
    }
}

/// Bytes a pipe handler appends while the test reads them.
final class OutputBuffer: Sendable {
    private let data = Mutex(Data())
    func append(_ more: Data) { data.withLock { $0.append(more) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
