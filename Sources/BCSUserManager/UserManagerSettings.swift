import BCSCore
import Foundation

/// The user-manager's own settings of `bcs serve`, validated at start-up.
///
/// Each is a flag, a `BCS_*` variable and a YAML key; a bad value ends start-up with one line.
public struct UserManagerSettings: Sendable {
    /// The server secret behind token hashes and sealed secrets.
    public var secret: [UInt8]
    /// True when the secret was generated for this run only (development mode).
    public var secretIsEphemeral: Bool
    public var bootstrapAdmin: (name: String, token: String)?
    public var credentialPollInterval: Duration

    public static let specs: [SettingSpec] = [
        SettingSpec("secret-key-file", default: nil,
                    "User-manager: file holding the server secret (32+ bytes) that keys token hashes and encrypts stored secrets."),
        SettingSpec("secret-key", default: nil,
                    "User-manager: the server secret itself (32+ bytes); prefer BCS_SECRET_KEY or --secret-key-file to keep it out of process lists."),
        SettingSpec("dev-generate-secret", default: "false",
                    "User-manager, development only: with no secret configured, generate one for this run (stored tokens and credentials become unreadable after a restart)."),
        SettingSpec("bootstrap-admin", default: nil,
                    "User-manager: NAME:TOKEN of an admin user created or updated at start-up (token: 16-256 visible ASCII characters)."),
        SettingSpec("credential-poll-interval", default: "2",
                    "User-manager: seconds between reads of credential changes made by other processes (only while something subscribes)."),
    ]

    /// Reads and checks the settings; the error's message is the one line to print.
    public static func resolve(_ layers: LayeredSettings, readFile: (String) -> Data? = { FileManager.default.contents(atPath: $0) }) throws -> UserManagerSettings {
        let devMode: Bool
        switch layers.string("dev-generate-secret", default: "false").lowercased() {
        case "true", "1", "yes": devMode = true
        case "false", "0", "no", "": devMode = false
        case let other: throw ConfigurationError("--dev-generate-secret must be true or false, not \"\(other)\"")
        }

        let secret: [UInt8]
        var ephemeral = false
        switch (layers.optionalString("secret-key-file"), layers.optionalString("secret-key")) {
        case (.some, .some):
            throw ConfigurationError("give the server secret once: --secret-key-file or BCS_SECRET_KEY, not both")
        case (let path?, nil):
            guard let data = readFile(path) else { throw ConfigurationError("cannot read secret key file \(path)") }
            var bytes = Array(data)
            while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 { bytes.removeLast() }
            guard bytes.count >= SecretBox.minimumSecretLength else {
                throw ConfigurationError("secret key file \(path) holds \(bytes.count) bytes; at least \(SecretBox.minimumSecretLength) are needed (e.g. openssl rand -hex 32)")
            }
            secret = bytes
        case (nil, let value?):
            guard value.utf8.count >= SecretBox.minimumSecretLength else {
                throw ConfigurationError("BCS_SECRET_KEY is \(value.utf8.count) bytes; at least \(SecretBox.minimumSecretLength) are needed (e.g. openssl rand -hex 32)")
            }
            secret = Array(value.utf8)
        case (nil, nil):
            guard devMode else {
                throw ConfigurationError("the usermanager role needs a server secret: set BCS_SECRET_KEY or --secret-key-file (32+ bytes, e.g. openssl rand -hex 32), or --dev-generate-secret true for development only")
            }
            secret = Array(SecretBox.generateSecret().utf8)
            ephemeral = true
        }

        var admin: (String, String)?
        if let raw = layers.optionalString("bootstrap-admin") {
            guard let colon = raw.firstIndex(of: ":") else {
                throw ConfigurationError("--bootstrap-admin must be NAME:TOKEN")
            }
            let name = String(raw[..<colon])
            let token = String(raw[raw.index(after: colon)...])
            guard (try? Validate.userName(name)) != nil else {
                throw ConfigurationError("--bootstrap-admin: user name \"\(Validate.printable(name))\" is invalid (1-64 characters of A-Z a-z 0-9 . _ - @)")
            }
            guard (16...256).contains(token.utf8.count), token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw ConfigurationError("--bootstrap-admin: the token must be 16-256 visible ASCII characters (BCS tokens are 32 of [A-Za-z0-9])")
            }
            admin = (name, token)
        }

        let pollText = layers.string("credential-poll-interval", default: "2")
        guard let poll = Double(pollText), poll > 0, poll <= 3600 else {
            throw ConfigurationError("--credential-poll-interval must be a number of seconds in (0, 3600], not \"\(pollText)\"")
        }
        return UserManagerSettings(secret: secret, secretIsEphemeral: ephemeral, bootstrapAdmin: admin,
                                   credentialPollInterval: .milliseconds(Int64(poll * 1000)))
    }
}
