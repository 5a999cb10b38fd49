import Logging
import Synchronization

/// Installs the process-wide log handler once, in the chosen format and level.
public enum LoggingBootstrap {
    private static let done = Mutex(false)

    /// Bootstraps swift-log; later calls are ignored (swift-log allows one bootstrap per process).
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
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
