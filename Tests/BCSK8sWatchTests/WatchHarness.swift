import AsyncHTTPClient
import BCSKube
import BCSTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The three real processes of the event pipeline — `bcs kube-sim`, `bcs serve --roles storage`
/// and `bcs k8s-watch` — started for one test, plus the checks made through their public APIs.
final class WatchHarness: @unchecked Sendable {
    let directory: String
    let clusterId = "BCS-K8S-\(UInt32.random(in: 10000...99999))"
    let database = TestEnvironment.uniqueName("watch")
    let mongoURI: String
    let bcs: String
    let storagePort: Int
    let metricsPort: Int
    private(set) var kubeSim: ChildProcess?
    private(set) var storage: ChildProcess?
    private(set) var watcher: ChildProcess?
    var kubeconfig: String { directory + "/kubeconfig" }
    var storageBase: String { "http://127.0.0.1:\(storagePort)/bcsstorage/v1" }

    struct Failed: Error, CustomStringConvertible { let description: String }

    init(kubeSimFlags: [String]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-watch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        mongoURI = try TestEnvironment.mongoURI()
        bcs = try TestEnvironment.bcsBinary()
        storagePort = try freePort()
        metricsPort = try freePort()
        let sim = try ChildProcess(bcs, ["kube-sim", "--listen", "127.0.0.1:0", "--token", "watch-test-token", "--kubeconfig-out", kubeconfig,
                                         "--incluster-dir", directory + "/incluster"] + kubeSimFlags)
        kubeSim = sim
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, sim.isRunning, !sim.stdout.hasPrefix("https://") || !FileManager.default.fileExists(atPath: kubeconfig) {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard sim.stdout.hasPrefix("https://") else { throw Failed(description: "kube-sim did not start: \(sim.stderr)") }
    }

    deinit {
        for child in [watcher, storage, kubeSim].compactMap({ $0 }) where child.isRunning {
            child.signal(SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while child.isRunning, Date() < deadline { usleep(20_000) }
            child.terminate()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts storage (again, on the same port) and waits until it is ready.
    func startStorage() async throws {
        let child = try ChildProcess(bcs, ["serve", "--roles", "storage", "--listen", "127.0.0.1:\(storagePort)", "--mongodb-uri", mongoURI,
                                          "--database", database, "--readiness-interval", "0.2", "--log-level", "warning"])
        storage = child
        let deadline = ContinuousClock.now + .seconds(40)
        while ContinuousClock.now < deadline, child.isRunning {
            if (try? await status("http://127.0.0.1:\(storagePort)/readyz")) == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failed(description: "storage did not become ready: \(child.stderr)")
    }

    func stopStorage() async {
        storage?.signal(SIGTERM)
        _ = await storage?.wait(timeout: .seconds(20))
        storage?.terminate()
    }

    /// Starts the watcher against kube-sim's kubeconfig and storage.
    ///
    /// `gatewayToken` reaches storage as through the gateway (`--bke-address`, `/bcsapi/v4/storage`,
    /// with the token); `inCluster` uses kube-sim's in-cluster layout instead of the kubeconfig.
    func startWatcher(_ extra: [String] = [], gatewayToken: String? = nil, inCluster: Bool = false) async throws {
        var arguments = ["k8s-watch", "--cluster-id", clusterId, "--listen-addr", "127.0.0.1:\(metricsPort)", "--flush-interval", "100"]
        var environment: [String: String] = [:]
        if inCluster {
            let text = try String(contentsOfFile: directory + "/incluster/env", encoding: .utf8)
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { environment[parts[0]] = parts[1] }
            }
            environment["BCS_SERVICEACCOUNT_DIR"] = directory + "/incluster"
        } else {
            arguments += ["--kubeconfig", kubeconfig]
        }
        if let gatewayToken {
            arguments += ["--bke-address", "http://127.0.0.1:\(storagePort)", "--token", gatewayToken]
        } else {
            arguments += ["--storage-url", "http://127.0.0.1:\(storagePort)"]
        }
        let child = try ChildProcess(bcs, arguments + extra, environment: environment)
        watcher = child
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, child.isRunning {
            if (try? await status("http://127.0.0.1:\(metricsPort)/healthz")) == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failed(description: "k8s-watch did not start: \(child.stderr)")
    }

    func killWatcher() async {
        watcher?.signal(SIGKILL)
        _ = await watcher?.wait(timeout: .seconds(10))
    }

    func stopWatcher() async -> Int32? {
        watcher?.signal(SIGTERM)
        return await watcher?.wait(timeout: .seconds(20))
    }

    func status(_ url: String) async throws -> Int {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    func get(_ url: String) async throws -> (status: Int, body: JSONValue) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), (try? JSONValue.parse(body.readableBytesView)) ?? .string(String(buffer: body)))
    }

    /// A value of the watcher's `/metrics`, summed over label sets matching `labels`.
    func metric(_ name: String, labels: String = "") async throws -> Double {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(metricsPort)/metrics"), timeout: .seconds(5))
        let text = String(buffer: try await response.body.collect(upTo: 4 << 20))
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            if !labels.isEmpty, !line.contains(labels) { continue }
            total += Double(line.split(separator: " ").last ?? "0") ?? 0
        }
        return total
    }

    /// Every stored event of this cluster as uid → the `count` of each stored document (more than one entry = a duplicate).
    func storedEvents() async throws -> [String: [Int64]] {
        var result: [String: [Int64]] = [:]
        var offset = 0
        while true {
            let (status, body) = try await get("\(storageBase)/events?clusterId=\(clusterId)&length=1000&offset=\(offset)&field=data.metadata.uid,data.count")
            guard status == 200 else { throw Failed(description: "GET /events answered \(status): \(body)") }
            let page = body["data"]?.arrayValue ?? []
            for doc in page {
                guard let uid = doc[path: "data", "metadata", "uid"]?.stringValue else { continue }
                result[uid, default: []].append(doc[path: "data", "count"]?.intValue ?? -1)
            }
            offset += page.count
            if page.isEmpty || offset >= Int(body["total"]?.intValue ?? 0) { return result }
        }
    }

    /// kube-sim's Events now: uid → (count, lastTimestamp).
    func clusterEvents() async throws -> [String: (count: Int64, last: Date)] {
        let connection = try KubeConnection.fromKubeconfig(path: kubeconfig)
        let client = KubeWatchClient(connection: connection, httpClient: try Self.kubeHTTP(connection))
        var result: [String: (Int64, Date)] = [:]
        _ = try await client.list(KubeResource.known["Event"]!, namespace: nil) { items in
            for item in items {
                guard let uid = item[path: "metadata", "uid"]?.stringValue else { continue }
                let last = (item["lastTimestamp"]?.stringValue).flatMap { try? Date.ISO8601FormatStyle().parse($0) } ?? .distantPast
                result[uid] = (item["count"]?.intValue ?? 1, last)
            }
        }
        return result
    }

    private static let clients = NIOLockedClients()

    static func kubeHTTP(_ connection: KubeConnection) throws -> HTTPClient {
        try clients.client(for: connection)
    }

    /// Checks that every kube-sim Event not touched in the last `settle` seconds is stored exactly
    /// once with kube-sim's current `count`, and that no uid is stored twice; returns the problems.
    func eventProblems(settle: TimeInterval = 3) async throws -> [String] {
        let cluster = try await clusterEvents()
        let stored = try await storedEvents()
        var problems: [String] = []
        for (uid, counts) in stored where counts.count > 1 { problems.append("uid \(uid) stored \(counts.count) times") }
        let now = Date()
        for (uid, event) in cluster {
            guard let counts = stored[uid] else {
                if now.timeIntervalSince(event.last) > settle { problems.append("uid \(uid) (count \(event.count)) not stored") }
                continue
            }
            if counts.first != event.count, now.timeIntervalSince(event.last) > settle {
                problems.append("uid \(uid) stored with count \(counts.first ?? -1), cluster has \(event.count)")
            }
            if let stored = counts.first, stored > event.count { problems.append("uid \(uid) stored count \(stored) ahead of the cluster's \(event.count)") }
        }
        return problems
    }

    /// Waits until `eventProblems` is empty, recording the last problems if it never is.
    func expectAllEventsStoredOnce(within limit: Duration, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + limit
        var problems: [String] = ["never checked"]
        while ContinuousClock.now < deadline {
            problems = (try? await eventProblems()) ?? ["query failed"]
            if problems.isEmpty { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("events not stored exactly once within \(limit): \(problems.prefix(10)) (\(problems.count) problems); watcher stderr: \(watcher?.stderr.suffix(2000) ?? "")",
                     sourceLocation: sourceLocation)
    }

    /// Runs kubectl 1.33 against kube-sim.
    func kubectl(_ arguments: [String]) async throws -> String {
        let path = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw Failed(description: "kubectl 1.33 not found at \(path): install the kubectl Debian package") }
        let result = try await ChildProcess.run(path, ["--kubeconfig", kubeconfig, "--cache-dir", directory + "/cache"] + arguments)
        guard result.status == 0 else { throw Failed(description: "kubectl \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        return result.stdout
    }

    func manifest(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// One HTTP client per apiserver CA for the tests' direct reads of kube-sim.
final class NIOLockedClients: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [String: HTTPClient] = [:]

    func client(for connection: KubeConnection) throws -> HTTPClient {
        lock.lock()
        defer { lock.unlock() }
        if let client = clients[connection.server] { return client }
        let client = try connection.makeHTTPClient()
        clients[connection.server] = client
        return client
    }
}
