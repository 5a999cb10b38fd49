import Logging
import Synchronization

/// Installs the process-wide log handler once, in the chosen format and level.
public enum LoggingBootstrap {
    private static let installed = Mutex<LogFormat?>(nil)

    /// The format `bootstrap` installed, writing to standard error; nil before it ran (as in
    /// tests, where swift-log's default handler or a test's own is in place).
    public static var format: LogFormat? { installed.withLock { $0 } }

    /// Bootstraps swift-log; later calls are ignored (swift-log allows one bootstrap per process).
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        let first = installed.withLock { installed in
            guard installed == nil else { return false }
            installed = format
            return true
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                return JSONLogHandler(label: label, level: level)
            case .text:
                return TextLogHandler(label: label, level: level)
            }
        }
    }
}
