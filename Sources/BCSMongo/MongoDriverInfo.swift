import CLibMongoC
import Logging

/// Facts about the linked C driver, and where its log lines go.
public enum MongoDriverInfo {
    /// The libmongoc version the process runs against (from the shared library, not the headers).
    public static var libmongocVersion: String { String(cString: mongoc_get_version()) }

    /// Sends libmongoc's own log messages to `logger` instead of stderr.
    public static func routeLogs(to logger: Logger) {
        MongocRuntime.setLogger(logger)
    }
}
