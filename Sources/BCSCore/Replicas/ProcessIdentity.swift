import Foundation

/// This process among its replicas: a name unique to this run, for leases and ownership records.
public enum ProcessIdentity {
    /// `host:pid:random`, fixed for the life of the process. A restarted process is a new replica:
    /// what the old one held expires rather than being silently inherited.
    public static let current: String = {
        let host = ProcessInfo.processInfo.hostName
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "\(host):\(getpid()):\(random)"
    }()
}
