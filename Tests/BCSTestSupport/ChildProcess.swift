import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started by a test, with its output captured.
///
/// Built on `posix_spawn` rather than Foundation's `Process`: on Linux with Swift 6.3.1,
/// `Process.run()` intermittently crashes the whole test run with SIGSEGV (a 256-byte over-read of
/// `dirent.d_name` while it scans `/proc/self/fd`, swift-corelibs-foundation PR #5472). It also
/// lets the child start with SIGINT/SIGTERM at their defaults and an empty signal mask, whatever
/// the test runner blocked or ignored.
public final class ChildProcess: Sendable {
    /// The spawned process id; never reused by us after `state` says it has been reaped.
    public let pid: Int32
    private let state = Mutex(State())
    private let stdoutBuffer = OutputBuffer()
    private let stderrBuffer = OutputBuffer()

    private struct State {
        var exitStatus: Int32?
    }

    /// Why a child could not be started.
    public struct SpawnError: Error, CustomStringConvertible {
        public let executable: String
        public let code: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
    }

    /// Starts `executable` with `arguments`; `environment` is added to the test process's own.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let (outRead, outWrite) = try Self.pipe(executable)
        let (errRead, errWrite) = try Self.pipe(executable)
        defer {
            close(outWrite)
            close(errWrite)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outWrite, 1)
        posix_spawn_file_actions_adddup2(&actions, errWrite, 2)
        // Listening sockets and other children's pipes must not leak into this child: a leaked
        // pipe end would keep another child's output open after it exits.
        Self.addCloseFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGPIPE, SIGQUIT, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(outRead)
            close(errRead)
            throw SpawnError(executable: executable, code: result)
        }
        self.pid = pid
        Self.drain(outRead, into: stdoutBuffer)
        Self.drain(errRead, into: stderrBuffer)
    }

    public var isRunning: Bool { reap(blocking: false) == nil }
    public var stdout: String { stdoutBuffer.text }
    public var stderr: String { stderrBuffer.text }

    /// Sends `sig` unless the child has already been reaped (its pid may belong to someone else now).
    public func signal(_ sig: Int32) {
        state.withLock { state in
            if state.exitStatus == nil { kill(pid, sig) }
        }
    }

    /// Waits up to `timeout` for the process to exit; returns its exit status, or nil if it is still running.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while reap(blocking: false) == nil {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Give the pipe readers a moment to drain the last output.
        try? await Task.sleep(for: .milliseconds(50))
        return reap(blocking: false)
    }

    /// Kills the process if it is still running (test cleanup).
    public func terminate() {
        signal(SIGKILL)
    }

    /// Runs a command to completion and returns its status and output.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(30)) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments, environment: environment)
        let status = await child.wait(timeout: timeout)
        child.terminate()
        return (status, child.stdout, child.stderr)
    }

    /// The exit status, or the signal number if a signal ended it (as Foundation's `Process` reports it).
    private func reap(blocking: Bool) -> Int32? {
        state.withLock { state in
            if let status = state.exitStatus { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
            guard result == pid else { return nil }
            let status = Self.decode(raw)
            state.exitStatus = status
            return status
        }
    }

    private static func decode(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        if signal == 0 { return (raw >> 8) & 0xff }
        return signal
    }

    private static func pipe(_ executable: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw SpawnError(executable: executable, code: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np`, looked up at run time because the
    /// Glibc module only declares it under `_GNU_SOURCE`.
    private static let addCloseFromFunction: AddCloseFrom? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    private static func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ lowest: Int32) {
        _ = addCloseFromFunction?(actions, lowest)
    }

    /// Reads `fd` until EOF on a thread of its own, appending to `buffer`, then closes it.
    private static func drain(_ fd: Int32, into buffer: OutputBuffer) {
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    buffer.append(Data(chunk[0..<count]))
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
        }
    }
}

/// Bytes a pipe reader appends while the test reads them.
final class OutputBuffer: Sendable {
    private let data = Mutex(Data())
    func append(_ more: Data) { data.withLock { $0.append(more) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
