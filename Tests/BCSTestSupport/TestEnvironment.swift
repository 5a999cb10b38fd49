import Foundation

/// What the integration tests need from the machine, found through environment variables that
/// `scripts/test` (and so `.ci/run`) sets.
///
/// A missing variable is a test failure with instructions, never a skip: in CI every integration
/// test must run.
public enum TestEnvironment {
    public struct Missing: Error, CustomStringConvertible {
        public let variable: String
        public var description: String {
            "\(variable) is not set: run the tests with scripts/test, which starts a MongoDB-compatible server and sets it"
        }
    }

    /// The MongoDB-compatible server shared by the tests (`BCS_TEST_MONGODB_URI`).
    public static func mongoURI() throws -> String {
        guard let uri = ProcessInfo.processInfo.environment["BCS_TEST_MONGODB_URI"], !uri.isEmpty else {
            throw Missing(variable: "BCS_TEST_MONGODB_URI")
        }
        return uri
    }

    /// The `nx-27017` executable, for tests that start and stop a server of their own.
    public static func nxExecutable() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["BCS_TEST_NX27017"], !path.isEmpty else {
            throw Missing(variable: "BCS_TEST_NX27017")
        }
        return path
    }

    /// The package root, found from this file's location.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The built `bcs` binary (`BCS_BINARY`, else `.build/debug/bcs`).
    public static func bcsBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["BCS_BINARY"], !path.isEmpty { return path }
        let path = packageRoot.appendingPathComponent(".build/debug/bcs").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Missing(variable: "BCS_BINARY (and no \(path); run `swift build` first)")
        }
        return path
    }

    /// A unique name for a test's own collection or database, so tests can run in parallel.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))_\(ProcessInfo.processInfo.processIdentifier)"
    }
}
