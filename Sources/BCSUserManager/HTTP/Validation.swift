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
        var result: [String] = []
        for part in raw.split(separator: ";", omittingEmptySubsequences: false) {
            let item = String(part.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
            guard !item.isEmpty else {
                throw UMError.badRequest("field 'server_addresses' has an empty item: separate https URLs with ';'")
            }
            switch httpsURLProblem(item) {
            case nil: result.append(item)
            case .invalidPort: throw UMError.badRequest("field 'server_addresses' item '\(printable(item))' has an invalid port")
            case .notHTTPS: throw UMError.badRequest("field 'server_addresses' item '\(printable(item))' is not an https URL (https://host[:port][/path])")
            }
        }
        return result
    }

    enum URLProblem { case notHTTPS, invalidPort }

    /// Checks `https://host[:port][/path]` by hand: no user info, query, fragment, spaces or controls.
    ///
    /// (URLComponents did the same at several times the cost of the rest of a report.)
    static func httpsURLProblem(_ text: String) -> URLProblem? {
        let bytes = Array(text.utf8)
        let scheme = Array("https://".utf8)
        let lowered = bytes.prefix(scheme.count).map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
        guard bytes.count > scheme.count, lowered == scheme else { return .notHTTPS }
        let rest = bytes[scheme.count...]
        guard rest.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") && $0 != UInt8(ascii: "@") && $0 != UInt8(ascii: "\\") }) else { return .notHTTPS }
        let authority = rest.prefix { $0 != UInt8(ascii: "/") }
        guard !authority.contains(UInt8(ascii: ",")) else { return .notHTTPS }  // "a,b": BCS separates with ';'
        var host = authority[...]
        if authority.first == UInt8(ascii: "[") {  // [IPv6]:port
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")), close > authority.startIndex + 1 else { return .notHTTPS }
            host = authority[authority.startIndex...close]
            let after = authority[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { return .notHTTPS }
                return port(after.dropFirst()) ? nil : .invalidPort
            }
            return nil
        }
        if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
            host = authority[..<colon]
            if !port(authority[(colon + 1)...]) { return .invalidPort }
        }
        guard !host.isEmpty, host.allSatisfy({ isHostByte($0) }) else { return .notHTTPS }
        return nil
    }

    private static func port(_ digits: ArraySlice<UInt8>) -> Bool {
        guard (1...5).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
              let value = Int(String(decoding: digits, as: UTF8.self)) else { return false }
        return (1...65535).contains(value)
    }

    private static func isHostByte(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
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
