import Foundation

/// Input rules shared by the controllers; every failure names the field and is a 400.
enum Validate {
    /// Names of users and IDs of clusters appear in paths and in MongoDB keys: a conservative alphabet.
    static let nameCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@")

    /// A user name from a path: 1–64 characters of `[A-Za-z0-9._@-]`.
    static func userName(_ raw: String?) throws -> String {
        guard let name = raw, !name.isEmpty else { throw UMError.badRequest("field 'user_name' is required") }
        guard name.utf8.count <= 64, name.unicodeScalars.allSatisfy(nameCharacters.contains) else {
            throw UMError.badRequest("user name '\(printable(name))' is invalid: use 1-64 characters of A-Z a-z 0-9 . _ - @")
        }
        return name
    }

    /// A cluster ID: 1–64 characters of `[A-Za-z0-9._-]` (BCS IDs look like `BCS-K8S-001`).
    static func clusterID(_ raw: String?, field: String = "cluster_id") throws -> String {
        guard let id = raw, !id.isEmpty else { throw UMError.badRequest("field '\(field)' is required") }
        guard id.utf8.count <= 64, id.unicodeScalars.allSatisfy({ nameCharacters.contains($0) && $0 != "@" }) else {
            throw UMError.badRequest("\(field) '\(printable(id))' is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -")
        }
        return id
    }

    /// A required string field: present and not empty (go-playground's `required`).
    static func required(_ value: String?, _ field: String, maxBytes: Int = 256) throws -> String {
        guard let value, !value.isEmpty else { throw UMError.badRequest("field '\(field)' is required") }
        guard value.utf8.count <= maxBytes else {
            throw UMError.badRequest("field '\(field)' is too long (\(value.utf8.count) bytes, at most \(maxBytes))")
        }
        return value
    }

    /// Parses BCS's `;`-separated `server_addresses`; each item must be an absolute https URL with a host.
    static func serverAddresses(_ raw: String) throws -> [String] {
        let items = raw.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var result: [String] = []
        for item in items {
            guard !item.isEmpty else {
                throw UMError.badRequest("field 'server_addresses' has an empty item: separate https URLs with ';'")
            }
            guard let url = URLComponents(string: item), url.scheme?.lowercased() == "https", let host = url.host, !host.isEmpty,
                  url.user == nil, url.password == nil, url.query == nil, url.fragment == nil
            else {
                throw UMError.badRequest("field 'server_addresses' item '\(printable(item))' is not an https URL (https://host[:port][/path])")
            }
            if let port = url.port, !(1...65535).contains(port) {
                throw UMError.badRequest("field 'server_addresses' item '\(printable(item))' has an invalid port")
            }
            result.append(item)
        }
        return result
    }

    /// A PEM bundle holding at least one certificate block.
    static func caCertificate(_ pem: String) throws {
        guard contains(pem, "-----BEGIN CERTIFICATE-----"), contains(pem, "-----END CERTIFICATE-----") else {
            throw UMError.badRequest("field 'cacert_data' must be a PEM certificate (-----BEGIN CERTIFICATE----- ...)")
        }
    }

    /// Byte substring search over contiguous UTF-8 (the generic `Collection` searches cost more
    /// than the rest of a credential report together). At most haystack × needle byte comparisons.
    static func contains(_ haystack: String, _ needle: String) -> Bool {
        var haystack = haystack
        var needle = needle
        return haystack.withUTF8 { h in
            needle.withUTF8 { n in
                guard let first = n.first, n.count <= h.count else { return n.isEmpty }
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    /// Echoes untrusted input into messages safely: bounded and without control characters.
    static func printable(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
        return cleaned.count > 80 ? String(cleaned.prefix(80)) + "…" : cleaned
    }
}
