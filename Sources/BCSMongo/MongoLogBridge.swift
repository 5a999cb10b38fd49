import CLibMongoC
import Foundation
import Logging
import Synchronization

/// Routes libmongoc's own log output into swift-log and initialises the C driver once.
///
/// Without a handler libmongoc writes to stderr directly, bypassing the configured log format.
/// The C callback cannot capture context, so the destination logger lives in a global.
enum MongocRuntime {
    /// Silent until `setLogger` is called: before logging is configured (while validating a URI at
    /// start-up, say) libmongoc's warnings would only repeat the error the caller reports itself.
    private static let logger = Mutex(Logger(label: "bcs.mongoc", factory: { _ in SwiftLogNoOpLogHandler() }))

    /// Calls `mongoc_init` and installs the log handler; safe to call many times.
    static func ensureInitialised() { _ = initialised }

    private static let initialised: Void = {
        // libmongoc keeps debug counters in /dev/shm/mongoc-<pid> unless told not to; a process killed
        // with SIGKILL leaves the file behind, and a later process reusing the pid warns on stderr.
        setenv("MONGOC_DISABLE_SHM", "1", 0)
        mongoc_init()
        mongoc_log_set_handler({ level, domain, message, _ in
            let swiftLevel: Logger.Level
            switch level {
            case MONGOC_LOG_LEVEL_ERROR, MONGOC_LOG_LEVEL_CRITICAL: swiftLevel = .error
            case MONGOC_LOG_LEVEL_WARNING: swiftLevel = .warning
            case MONGOC_LOG_LEVEL_MESSAGE, MONGOC_LOG_LEVEL_INFO: swiftLevel = .info
            case MONGOC_LOG_LEVEL_DEBUG: swiftLevel = .debug
            default: swiftLevel = .trace
            }
            let text = message.map { String(cString: $0) } ?? ""
            let domainText = domain.map { String(cString: $0) } ?? "mongoc"
            MongocRuntime.logger.withLock { $0 }.log(level: swiftLevel, "\(text)", metadata: ["mongoc.domain": "\(domainText)"])
        }, nil)
    }()

    /// Replaces the logger libmongoc's messages go to (it keeps the label's log level).
    static func setLogger(_ newLogger: Logger) {
        ensureInitialised()
        logger.withLock { $0 = newLogger }
    }
}
