import BCSCore
import Foundation
import Testing

@testable import BCSUserManager

@Suite("user-manager settings")
struct SettingsTests {
    static let goodSecret = "0123456789abcdef0123456789abcdef"

    static let bad: [(name: String, flags: [String: String], environment: [String: String], message: String)] = [
        ("no secret at all", [:], [:], "the usermanager role needs a server secret"),
        ("short secret in the environment", [:], ["BCS_SECRET_KEY": "short"], "BCS_SECRET_KEY is 5 bytes; at least 32"),
        ("secret file and variable", ["secret-key-file": "/etc/hostname"], ["BCS_SECRET_KEY": goodSecret], "not both"),
        ("unreadable secret file", ["secret-key-file": "/nonexistent/secret"], [:], "cannot read secret key file /nonexistent/secret"),
        ("short secret file", ["secret-key-file": "/etc/hostname"], [:], "at least 32 are needed"),
        ("dev mode not a boolean", ["dev-generate-secret": "maybe"], [:], "--dev-generate-secret must be true or false"),
        ("bootstrap admin without a colon", ["bootstrap-admin": "admin"], ["BCS_SECRET_KEY": goodSecret], "--bootstrap-admin must be NAME:TOKEN"),
        ("bootstrap admin with a short token", ["bootstrap-admin": "admin:short"], ["BCS_SECRET_KEY": goodSecret], "16-256 visible ASCII"),
        ("bootstrap admin with a space in the token", ["bootstrap-admin": "admin:0123456789 abcdef012345"], ["BCS_SECRET_KEY": goodSecret], "16-256 visible ASCII"),
        ("bootstrap admin with a bad name", ["bootstrap-admin": "ad/min:0123456789abcdef"], ["BCS_SECRET_KEY": goodSecret], "user name \"ad/min\" is invalid"),
        ("bootstrap admin with an empty name", [:], ["BCS_SECRET_KEY": goodSecret, "BCS_BOOTSTRAP_ADMIN": ":0123456789abcdef"], "is invalid"),
        ("poll interval zero", ["credential-poll-interval": "0"], ["BCS_SECRET_KEY": goodSecret], "--credential-poll-interval must be"),
        ("poll interval text", ["credential-poll-interval": "soon"], ["BCS_SECRET_KEY": goodSecret], "--credential-poll-interval must be"),
    ]

    @Test(arguments: bad.indices)
    func badSettingsAreOneClearLine(index: Int) {
        let bad = Self.bad[index]
        do {
            _ = try UserManagerSettings.resolve(LayeredSettings(flags: bad.flags, environment: bad.environment))
            Issue.record("\(bad.name): accepted")
        } catch let error as ConfigurationError {
            #expect(error.message.contains(bad.message), "\(bad.name): \(error.message)")
            #expect(!error.message.contains("\n"))
            #expect(!error.message.contains(Self.goodSecret), "the secret is never echoed")
        } catch {
            Issue.record("\(bad.name): unexpected \(error)")
        }
    }

    @Test func goodSettingsFromEachSource() throws {
        let fromEnv = try UserManagerSettings.resolve(LayeredSettings(flags: [:], environment: ["BCS_SECRET_KEY": Self.goodSecret, "BCS_BOOTSTRAP_ADMIN": "root:Tok:en0123456789abcdef"]))
        #expect(fromEnv.secret == Array(Self.goodSecret.utf8) && !fromEnv.secretIsEphemeral)
        #expect(fromEnv.bootstrapAdmin?.name == "root" && fromEnv.bootstrapAdmin?.token == "Tok:en0123456789abcdef", "split at the first colon")
        #expect(fromEnv.credentialPollInterval == .seconds(2))

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("um-secret-\(UUID())").path
        try (Self.goodSecret + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try UserManagerSettings.resolve(LayeredSettings(flags: [:], environment: [:], file: ["secret-key-file": path, "credential-poll-interval": "0.5"]))
        #expect(fromFile.secret == Array(Self.goodSecret.utf8), "the trailing newline is not part of the secret")
        #expect(fromFile.credentialPollInterval == .milliseconds(500))

        let dev = try UserManagerSettings.resolve(LayeredSettings(flags: ["dev-generate-secret": "true"], environment: [:]))
        #expect(dev.secretIsEphemeral && dev.secret.count >= 32)
        let devWithSecret = try UserManagerSettings.resolve(LayeredSettings(flags: ["dev-generate-secret": "true"], environment: ["BCS_SECRET_KEY": Self.goodSecret]))
        #expect(!devWithSecret.secretIsEphemeral, "a configured secret wins over development mode")
    }
}
