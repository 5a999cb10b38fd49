import Foundation

func log(_ text: String) { FileHandle.standardError.write(Data("==> \(text)\n".utf8)) }
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Resident set size of a process in KiB (VmRSS).
func rssKiB(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return -1 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

@Sendable func clusterID(_ i: Int) -> String { String(format: "BCS-K8S-%05d", i) }
@Sendable func apiserver(_ i: Int) -> String { "https://10.\(i / 65536 % 256).\(i / 256 % 256).\(i % 256):6443" }

/// A realistic report: a ~1.1 KiB CA and a ~900-byte projected service-account token.
struct ReportPayload: Sendable {
    let caPEM: String
    let saToken: String

    init() {
        let b64 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        caPEM = "-----BEGIN CERTIFICATE-----\n" + (0..<15).map { _ in String((0..<64).map { _ in b64.randomElement()! }) }.joined(separator: "\n")
            + "\n-----END CERTIFICATE-----\n"
        saToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIn0." + String((0..<860).map { _ in b64.randomElement()! })
    }

    func body(token: String, cluster i: Int) -> String {
        let object = ["register_token": token, "server_addresses": apiserver(i), "cacert_data": caPEM, "user_token": saToken]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }
}

func row(_ label: String, _ value: String, _ detail: String = "") -> String {
    let padded = value.count >= 20 ? value : String(repeating: " ", count: 20 - value.count) + value
    return label.padding(toLength: 52, withPad: " ", startingAt: 0) + padded + "   " + detail
}

/// CPU time (user + system) a process has used, in seconds, from /proc/PID/stat.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // Fields after the command: state(3) … utime(14) stime(15); index 0 here is field 3.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
