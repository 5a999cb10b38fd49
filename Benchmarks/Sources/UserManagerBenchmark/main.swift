import BCSMongo
import Foundation
import Synchronization

// Credential reports per second through `bcs serve --roles usermanager` with N registered clusters
// reporting concurrently, beside the same documents upserted straight into the same MongoDB-compatible
// server through BCSMongo in the same run; and the server's RSS per idle registered cluster.
// Benchmarks/usermanager-credentials.sh builds both in release mode and runs this.
//
// usage: UserManagerBenchmark BCS_BINARY MONGODB_URI [CLUSTERS=10000] [CONNECTIONS=64] [ROUNDS=3]

struct Settings: Sendable {
    let bcsBinary: String
    let mongoURI: String
    let clusters: Int
    let connections: Int
    let rounds: Int
    let adminToken = "BenchAdminToken0123456789abcdefX"
    let tag = UInt32.random(in: 0...UInt32.max)
    var serverDatabase: String { "bench_um_\(tag)" }
    var baselineDatabase: String { "bench_um_baseline_\(tag)" }
    var adminHeader: [String: String] { ["Authorization": "Bearer \(adminToken)"] }
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: UserManagerBenchmark BCS_BINARY MONGODB_URI [CLUSTERS] [CONNECTIONS] [ROUNDS]\n".utf8))
    exit(2)
}
let settings = Settings(
    bcsBinary: arguments[1], mongoURI: arguments[2],
    clusters: arguments.count > 3 ? Int(arguments[3]) ?? 10_000 : 10_000,
    connections: arguments.count > 4 ? Int(arguments[4]) ?? 64 : 64,
    rounds: arguments.count > 5 ? Int(arguments[5]) ?? 3 : 3
)
do {
    try await run(settings)
} catch {
    log("benchmark failed: \(error)")
    exit(1)
}

func run(_ s: Settings) async throws {
    let clock = ContinuousClock()
    let payload = ReportPayload()

    // Start the server.
    let port = freePort()
    let server = Process()
    server.executableURL = URL(fileURLWithPath: s.bcsBinary)
    server.arguments = ["serve", "--roles", "usermanager", "--listen", "127.0.0.1:\(port)", "--mongodb-uri", s.mongoURI,
                        "--database", s.serverDatabase, "--bootstrap-admin", "admin:\(s.adminToken)", "--log-level", "warning"]
    server.environment = ProcessInfo.processInfo.environment.merging(["BCS_SECRET_KEY": "bench-secret-0123456789abcdef0123456789abcdef"]) { _, new in new }
    server.standardOutput = FileHandle.nullDevice
    server.standardError = FileHandle.standardError
    try server.run()
    defer { if server.isRunning { server.terminate() } }
    let readyBy = clock.now + .seconds(60)
    while true {
        if let c = try? HTTPConnection(port: port), let r = try? c.request("GET", "/usermanager/v1/clusters", headers: s.adminHeader), r.status == 200 { break }
        guard clock.now < readyBy, server.isRunning else { throw BenchmarkError("bcs serve did not become ready") }
        try await Task.sleep(for: .milliseconds(200))
    }
    try await Task.sleep(for: .seconds(1))
    let rssStart = rssKiB(server.processIdentifier)
    log("bcs serve ready on port \(port), RSS \(rssStart) KiB; registering \(s.clusters) clusters over \(s.connections) connections")

    // Register the clusters and mint their register tokens through the API, as an operator would.
    let tokens = Mutex([String](repeating: "", count: s.clusters))
    let failures = Atomic<Int>(0)
    let registerStart = clock.now
    onThreads(s.connections) { k in
        guard let connection = try? HTTPConnection(port: port) else { failures.add(1, ordering: .relaxed); return }
        for i in stride(from: k, to: s.clusters, by: s.connections) {
            let id = clusterID(i)
            guard let created = try? connection.request("POST", "/usermanager/v1/clusters", headers: s.adminHeader, body: #"{"cluster_id":"\#(id)","cluster_type":"k8s"}"#),
                  created.status == 200,
                  let minted = try? connection.request("POST", "/usermanager/v1/clusters/\(id)/register_tokens", headers: s.adminHeader),
                  let object = try? JSONSerialization.jsonObject(with: Data(minted.body.utf8)) as? [String: Any],
                  let token = (object["data"] as? [String: Any])?["token"] as? String
            else { failures.add(1, ordering: .relaxed); continue }
            tokens.withLock { $0[i] = token }
        }
    }
    guard failures.load(ordering: .relaxed) == 0 else { throw BenchmarkError("\(failures.load(ordering: .relaxed)) registrations failed") }
    log(String(format: "registered in %.1f s", seconds(clock.now - registerStart)))
    try await Task.sleep(for: .seconds(2))
    let rssRegistered = rssKiB(server.processIdentifier)
    let bodies = tokens.withLock { all in (0..<s.clusters).map { payload.body(token: all[$0], cluster: $0) } }

    // The baseline's documents: the shape the server stores, prefilled as the server's are (armed stubs).
    let mongo = try MongoClient(uri: MongoURI(s.mongoURI), threads: 8)
    let baseline = mongo.database(s.baselineDatabase).collection("cluster_credentials")
    func sealedLike(_ plain: String) -> String { Data((0..<(plain.utf8.count + 28)).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }
    let sealedCA = sealedLike(payload.caPEM), sealedSA = sealedLike(payload.saToken)
    let tokenKey = String(repeating: "a", count: 64)
    // The same indexes as the server's collection (UserManagerCollections.createIndexes), so both pay the same index upkeep.
    try await baseline.createIndexes([IndexModel(keys: ["updatedAt": 1], name: "updatedAt"), IndexModel(keys: ["status": 1], name: "status")])
    _ = try await baseline.insertMany((0..<s.clusters).map { i in
        ["_id": .string(clusterID(i)), "registerTokenKey": .string(tokenKey), "status": .int32(0), "id": .int64(Int64(i + 1)),
         "serverAddresses": "", "sealedCACert": "", "sealedUserToken": "", "clusterDomain": "", "createdAt": .int64(0), "reportedAt": .int64(0), "updatedAt": .int64(0)]
    })

    func serverRound() throws -> Double {
        let failed = Atomic<Int>(0)
        let roundStart = clock.now
        onThreads(s.connections) { k in
            guard let connection = try? HTTPConnection(port: port) else { failed.add(1, ordering: .relaxed); return }
            for i in stride(from: k, to: s.clusters, by: s.connections) {
                let reply = try? connection.request("PUT", "/usermanager/v1/clusters/\(clusterID(i))/credentials", body: bodies[i])
                if reply?.status != 200 { failed.add(1, ordering: .relaxed) }
            }
        }
        let elapsed = seconds(clock.now - roundStart)
        guard failed.load(ordering: .relaxed) == 0 else { throw BenchmarkError("\(failed.load(ordering: .relaxed)) reports failed") }
        return Double(s.clusters) / elapsed
    }

    let baselineCPU = Mutex(0.0)
    func baselineRound() async throws -> Double {
        let cpuStart = cpuSeconds(getpid())
        defer { let used = cpuSeconds(getpid()) - cpuStart; baselineCPU.withLock { $0 += used } }
        let roundStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for k in 0..<s.connections {
                group.addTask {
                    for i in stride(from: k, to: s.clusters, by: s.connections) {
                        let now = BSON.int64(Int64(Date().timeIntervalSince1970 * 1000))
                        _ = try await baseline.updateOne(
                            filter: ["_id": .string(clusterID(i)), "registerTokenKey": .string(tokenKey), "status": ["$lt": .int32(2)]],
                            update: ["$set": ["serverAddresses": .string(apiserver(i)), "sealedCACert": .string(sealedCA), "sealedUserToken": .string(sealedSA),
                                              "clusterDomain": "", "status": .int32(1), "updatedAt": now, "reportedAt": now]],
                            upsert: true)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(s.clusters) / seconds(clock.now - roundStart)
    }

    var serverRates: [Double] = [], baselineRates: [Double] = []
    let serverCPUStart = cpuSeconds(server.processIdentifier)
    for round in 1...s.rounds {
        // Alternate which goes first so neither always meets a warmer server.
        if round % 2 == 1 {
            serverRates.append(try serverRound())
            baselineRates.append(try await baselineRound())
        } else {
            baselineRates.append(try await baselineRound())
            serverRates.append(try serverRound())
        }
        log(String(format: "round %d: bcs serve %.0f reports/s, BCSMongo upsert %.0f docs/s", round, serverRates.last!, baselineRates.last!))
    }

    let serverCPUPerReport = (cpuSeconds(server.processIdentifier) - serverCPUStart) / Double(s.clusters * s.rounds) * 1e6
    try await Task.sleep(for: .seconds(3))
    let rssIdle = rssKiB(server.processIdentifier)
    let reported = try await mongo.database(s.serverDatabase).collection("cluster_credentials").count(["status": .int32(1)])
    server.terminate()
    server.waitUntilExit()
    try? await mongo.database(s.serverDatabase).drop()
    try? await mongo.database(s.baselineDatabase).drop()
    await mongo.shutdown()
    guard reported == s.clusters else { throw BenchmarkError("expected \(s.clusters) reported clusters in MongoDB, found \(reported)") }

    let ratio = median(serverRates) / median(baselineRates)
    let perCluster = Double(rssIdle - rssStart) / Double(s.clusters)
    print("")
    print("Credential reports: \(s.clusters) registered clusters, \(s.connections) concurrent connections, median of \(s.rounds) rounds, same nx-27017 server")
    print(row("", "median", "all rounds"))
    print(row("BCSMongo updateOne upsert, same documents (base)", String(format: "%.0f docs/s", median(baselineRates)), baselineRates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
    print(row("PUT .../credentials via bcs serve", String(format: "%.0f reports/s", median(serverRates)), serverRates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
    print(row("ratio bcs serve / BCSMongo", String(format: "%.2f", ratio), "target >= 0.80: \(ratio >= 0.8 ? "met" : "NOT met")"))
    print(row("bcs serve CPU per report (all of it)", String(format: "%.0f µs", serverCPUPerReport)))
    print(row("baseline CPU per upsert (driver only)", String(format: "%.0f µs", baselineCPU.withLock { $0 } / Double(s.clusters * s.rounds) * 1e6)))
    print("")
    print("Server RSS (bcs serve --roles usermanager, release build)")
    print(row("idle, before registration", "\(rssStart) KiB"))
    print(row("after registering \(s.clusters) clusters + tokens", "\(rssRegistered) KiB"))
    print(row("after \(s.rounds) report rounds, idle 3 s", "\(rssIdle) KiB"))
    print(row("per idle registered cluster", String(format: "%.2f KiB", perCluster), "target <= 16 KiB: \(perCluster <= 16 ? "met" : "NOT met")"))
}
