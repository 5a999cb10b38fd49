import Foundation
import Testing

@testable import BCSCore

@Suite("Configuration layers")
struct ConfigurationTests {
    @Test func flagsBeatEnvironmentBeatFile() {
        let layers = LayeredSettings(
            flags: ["listen": "1.1.1.1:1"],
            environment: ["BCS_LISTEN": "2.2.2.2:2", "BCS_DATABASE": "fromenv", "BCS_MONGODB_URI": "mongodb://env"],
            file: ["listen": "3.3.3.3:3", "database": "fromfile", "log-level": "debug"],
            filePath: "/etc/bcs.yaml"
        )
        #expect(layers.lookup("listen")?.value == "1.1.1.1:1")
        #expect(layers.lookup("listen")?.source == .flag)
        #expect(layers.lookup("database")?.value == "fromenv")
        #expect(layers.lookup("database")?.source == .environment("BCS_DATABASE"))
        #expect(layers.lookup("mongodb-uri")?.value == "mongodb://env", "dashes become underscores in the environment")
        #expect(layers.lookup("log-level")?.value == "debug")
        #expect(layers.lookup("log-level")?.source == .file("/etc/bcs.yaml"))
        #expect(layers.lookup("roles") == nil)
        #expect(layers.string("roles", default: "all") == "all")
    }

    @Test func yamlFileAcceptsDashesUnderscoresAndLists() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-\(UUID()).yaml").path
        try """
            roles: [gateway, storage]
            mongodb_uri: mongodb://db:27017
            listen: "0.0.0.0:9090"
            shutdown-timeout: 5
            """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try LayeredSettings.loadYAML(path: path, knownKeys: ["roles", "mongodb-uri", "listen", "shutdown-timeout"])
        #expect(file == ["roles": "gateway,storage", "mongodb-uri": "mongodb://db:27017", "listen": "0.0.0.0:9090", "shutdown-timeout": "5"])
    }

    @Test func yamlFileRejectsUnknownKeysAndBadShapes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bcs-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "listne: 1.2.3.4:5\n".write(toFile: path, atomically: true, encoding: .utf8)
        let typo = #expect(throws: ConfigurationError.self) { try LayeredSettings.loadYAML(path: path, knownKeys: ["listen"]) }
        #expect(typo?.message.contains("unknown setting \"listne\"") == true)
        try "- a\n- b\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try LayeredSettings.loadYAML(path: path, knownKeys: ["listen"]) }
        try "listen: {host: x}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try LayeredSettings.loadYAML(path: path, knownKeys: ["listen"]) }
        try "listen: [unclosed\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try LayeredSettings.loadYAML(path: path, knownKeys: ["listen"]) }
        #expect(throws: ConfigurationError.self) { try LayeredSettings.loadYAML(path: "/nonexistent/bcs.yaml", knownKeys: []) }
    }

    @Test func rolesParse() throws {
        #expect(try Role.parseList("gateway,usermanager,storage") == [.storage, .usermanager, .gateway])
        #expect(try Role.parseList(" Storage , storage ") == [.storage])
        let unknown = #expect(throws: ConfigurationError.self) { try Role.parseList("gateway,scheduler") }
        #expect(unknown?.message == "unknown role \"scheduler\" (valid: gateway, usermanager, storage)")
        #expect(throws: ConfigurationError.self) { try Role.parseList(" , ") }
    }

    @Test func listenAddressesParse() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(try ListenAddress(parsing: ":9000") == ListenAddress(host: "0.0.0.0", port: 9000))
        #expect(try ListenAddress(parsing: "[::1]:443") == ListenAddress(host: "::1", port: 443))
        #expect(try ListenAddress(parsing: "[::1]:443").description == "[::1]:443")
        for bad in ["8080", "host:", "host:70000", "host:-1", "[::1]443", "host:abc"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
    }

    @Test func logSettingsParse() throws {
        #expect(try LogFormat.parse("JSON") == .json)
        #expect(throws: ConfigurationError.self) { try LogFormat.parse("xml") }
        #expect(try Logger.Level.parse("warn") == .warning)
        #expect(throws: ConfigurationError.self) { try Logger.Level.parse("loud") }
    }
}

import Logging
