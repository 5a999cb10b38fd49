import Foundation
import Yams

/// Settings looked up in three layers: command-line flags, then `BCS_*` environment variables, then
/// a YAML file.
///
/// Keys are the long flag names (`mongodb-uri`). The environment variable for a key is `BCS_` plus
/// the key upper-cased with dashes as underscores (`BCS_MONGODB_URI`). In the YAML file the key may
/// be written with dashes or underscores; list values (`roles: [gateway, storage]`) are joined with
/// commas.
public struct LayeredSettings: Sendable {
    public enum Source: Sendable, Equatable, CustomStringConvertible {
        case flag, environment(String), file(String), defaultValue

        public var description: String {
            switch self {
            case .flag: return "command line"
            case .environment(let name): return "environment variable \(name)"
            case .file(let path): return "config file \(path)"
            case .defaultValue: return "default"
            }
        }
    }

    public let flags: [String: String]
    public let environment: [String: String]
    public let file: [String: String]
    public let filePath: String?

    public init(flags: [String: String], environment: [String: String], file: [String: String] = [:], filePath: String? = nil) {
        self.flags = flags
        self.environment = environment
        self.file = file
        self.filePath = filePath
    }

    public static func environmentName(for key: String) -> String {
        "BCS_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The value for `key` from the highest layer that sets it, and where it came from.
    public func lookup(_ key: String) -> (value: String, source: Source)? {
        if let v = flags[key] { return (v, .flag) }
        let envName = Self.environmentName(for: key)
        if let v = environment[envName] { return (v, .environment(envName)) }
        if let v = file[key] { return (v, .file(filePath ?? "")) }
        return nil
    }

    public func string(_ key: String, default defaultValue: String) -> String {
        lookup(key)?.value ?? defaultValue
    }

    public func optionalString(_ key: String) -> String? {
        guard let v = lookup(key)?.value, !v.isEmpty else { return nil }
        return v
    }

    /// Reads a YAML mapping of scalar (or list-of-scalar) settings, rejecting keys not in `knownKeys`
    /// so a typo in the file is an error rather than a silently ignored setting.
    public static func loadYAML(path: String, knownKeys: Set<String>) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read config file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let node: Any?
        do {
            node = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationError("config file \(path) is not valid YAML: \(error)")
        }
        guard let node else { return [:] }
        guard let mapping = node as? [String: Any] else {
            throw ConfigurationError("config file \(path) must be a mapping of setting: value")
        }
        var result: [String: String] = [:]
        for (rawKey, value) in mapping {
            let key = rawKey.replacingOccurrences(of: "_", with: "-").lowercased()
            guard knownKeys.contains(key) else {
                throw ConfigurationError("config file \(path): unknown setting \"\(rawKey)\" (known: \(knownKeys.sorted().joined(separator: ", ")))")
            }
            switch value {
            case let list as [Any]:
                result[key] = list.map { "\($0)" }.joined(separator: ",")
            case is [String: Any]:
                throw ConfigurationError("config file \(path): setting \"\(rawKey)\" must be a scalar or a list")
            default:
                result[key] = "\(value)"
            }
        }
        return result
    }
}
