import BCSMongo
import Foundation
import Synchronization

// Credential reports per second through `bcs serve --roles usermanager` with N registered clusters
// reporting concurrently, beside the same documents upserted straight into the same MongoDB-compatible
// server through BCSMongo in the same run; and the server's RSS per idle registered cluster.
// Benchmarks/usermanager-credentials.sh builds both in release mode and runs this.
//
// usage: UserManagerBenchmark BCS_BINARY MONGODB_URI [CLUSTERS=10000] [CONNECTIONS=64] [ROUNDS=3]

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: UserManagerBenchmark BCS_BINARY MONGODB_URI [CLUSTERS] [CONNECTIONS] [ROUNDS]\n".utf8))
    exit(2)
}
let bcsBinary = arguments[1]
let mongoURI = arguments[2]
let clusters = arguments.count > 3 ? Int(arguments[3]) ?? 10_000 : 10_000
let connections = arguments.count > 4 ? Int(arguments[4]) ?? 64 : 64
let rounds = arguments.count > 5 ? Int(arguments[5]) ?? 3 : 3
let adminToken = "BenchAdminToken0123456789abcdefX"
let tag = UInt32.random(in: 0...UInt32.max)
let serverDatabase = "bench_um_\(tag)"
let baselineDatabase = "bench_um_baseline_\(tag)"

func log(_ text: String) { FileHandle.standardError.write(Data("==> \(text)\n".utf8)) }
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

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

// A realistic report: a ~1.1 KiB CA and a ~900-byte projected service-account token.
let caPEM = "-----BEGIN CERTIFICATE-----\n" + (0..<15).map { _ in String((0..<64).map { _ in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".randomElement()! }) }.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
let saToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIn0." + String((0..<860).map { _ in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".randomElement()! })
func clusterID(_ i: Int) -> String { String(format: "BCS-K8S-%05d", i) }
func reportBody(_ token: String, _ i: Int) -> String {
    let object = ["register_token": token, "server_addresses": "https://10.\(i / 65536 % 256).\(i / 256 % 256).\(i % 256):6443",
                  "cacert_data": caPEM, "user_token": saToken]
    return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
}

// MARK: start the server

let port = freePort()
let server = Process()
server.executableURL = URL(fileURLWithPath: bcsBinary)
server.arguments = ["serve", "--roles", "usermanager", "--listen", "127.0.0.1:\(port)", "--mongodb-uri", mongoURI, "--database", serverDatabase,
                    "--bootstrap-admin", "admin:\(adminToken)", "--log-level", "warning"]
server.environment = ProcessInfo.processInfo.environment.merging(["BCS_SECRET_KEY": "bench-secret-0123456789abcdef0123456789abcdef"]) { _, new in new }
server.standardOutput = FileHandle.nullDevice
server.standardError = FileHandle.standardError
try server.run()
defer { if server.isRunning { server.terminate() } }

let adminHeader = ["Authorization": "Bearer \(adminToken)"]
let readyDeadline = Date().addingTimeInterval(60)
while true {
    if let c = try? HTTPConnection(port: port), let r = try? c.request("GET", "/usermanager/v1/clusters", headers: adminHeader), r.status == 200 { break }
    guard Date() < readyDeadline, server.isRunning else { log("bcs serve did not become ready"); exit(1) }
    Thread.sleep(forTimeInterval: 0.2)
}
Thread.sleep(forTimeInterval: 1)
let rssStart = rssKiB(server.processIdentifier)
log("bcs serve ready on port \(port), RSS \(rssStart) KiB; registering \(clusters) clusters over \(connections) connections")

// MARK: register clusters and mint their register tokens (through the API, as an operator would)

let tokens = Mutex([String](repeating: "", count: clusters))
let failures = Atomic<Int>(0)
let clock = ContinuousClock()
var start = clock.now
onThreads(connections) { k in
    guard let connection = try? HTTPConnection(port: port) else { failures.add(1, ordering: .relaxed); return }
    for i in stride(from: k, to: clusters, by: connections) {
        let id = clusterID(i)
        guard let created = try? connection.request("POST", "/usermanager/v1/clusters", headers: adminHeader, body: #"{"cluster_id":"\#(id)","cluster_type":"k8s"}"#),
              created.status == 200,
              let minted = try? connection.request("POST", "/usermanager/v1/clusters/\(id)/register_tokens", headers: adminHeader),
              let data = minted.body.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = (object["data"] as? [String: Any])?["token"] as? String
        else { failures.add(1, ordering: .relaxed); continue }
        tokens.withLock { $0[i] = token }
    }
}
guard failures.load(ordering: .relaxed) == 0 else { log("\(failures.load(ordering: .relaxed)) registrations failed"); exit(1) }
log("registered in \(String(format: "%.1f", seconds(clock.now - start))) s")
Thread.sleep(forTimeInterval: 2)
let rssRegistered = rssKiB(server.processIdentifier)
let allTokens = tokens.withLock { $0 }

// MARK: the baseline's documents: the same shape the server stores, prefilled as the server's are

let mongo = try MongoClient(uri: MongoURI(mongoURI), threads: 8)
let baseline = mongo.database(baselineDatabase).collection("cluster_credentials")
func sealedLike(_ plain: String) -> String { Data((0..<(plain.utf8.count + 28)).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }
let sealedCA = sealedLike(caPEM), sealedSA = sealedLike(saToken)
_ = try await baseline.insertMany((0..<clusters).map { i in
    ["_id": .string(clusterID(i)), "registerTokenKey": .string(String(repeating: "a", count: 64)), "status": .int32(0), "id": .int64(Int64(i + 1)),
     "serverAddresses": "", "sealedCACert": "", "sealedUserToken": "", "clusterDomain": "", "createdAt": .int64(0), "reportedAt": .int64(0), "updatedAt": .int64(0)]
})

func runServerRound() throws -> Double {
    let bodies = (0..<clusters).map { reportBody(allTokens[$0], $0) }
    let failed = Atomic<Int>(0)
    let roundStart = clock.now
    onThreads(connections) { k in
        guard let connection = try? HTTPConnection(port: port) else { failed.add(1, ordering: .relaxed); return }
        for i in stride(from: k, to: clusters, by: connections) {
            let reply = try? connection.request("PUT", "/usermanager/v1/clusters/\(clusterID(i))/credentials", body: bodies[i])
            if reply?.status != 200 { failed.add(1, ordering: .relaxed) }
        }
    }
    let elapsed = seconds(clock.now - roundStart)
    guard failed.load(ordering: .relaxed) == 0 else { throw BenchmarkError("\(failed.load(ordering: .relaxed)) reports failed") }
    return Double(clusters) / elapsed
}

func runBaselineRound() async throws -> Double {
    let roundStart = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for k in 0..<connections {
            group.addTask {
                for i in stride(from: k, to: clusters, by: connections) {
                    let now = BSON.int64(Int64(Date().timeIntervalSince1970 * 1000))
                    _ = try await baseline.updateOne(
                        filter: ["_id": .string(clusterID(i)), "registerTokenKey": .string(String(repeating: "a", count: 64)), "status": ["$lt": .int32(2)]],
                        update: ["$set": ["serverAddresses": .string("https://10.\(i / 65536 % 256).\(i / 256 % 256).\(i % 256):6443"), "sealedCACert": .string(sealedCA),
                                          "sealedUserToken": .string(sealedSA), "clusterDomain": "", "status": .int32(1), "updatedAt": now, "reportedAt": now]],
                        upsert: true)
                }
            }
        }
        try await group.waitForAll()
    }
    return Double(clusters) / seconds(clock.now - roundStart)
}

var serverRates: [Double] = [], baselineRates: [Double] = []
for round in 1...rounds {
    // Alternate which goes first so neither always meets a warmer server.
    if round % 2 == 1 {
        serverRates.append(try runServerRound()); baselineRates.append(try await runBaselineRound())
    } else {
        baselineRates.append(try await runBaselineRound()); serverRates.append(try runServerRound())
    }
    log(String(format: "round %d: bcs serve %.0f reports/s, BCSMongo upsert %.0f docs/s", round, serverRates.last!, baselineRates.last!))
}

Thread.sleep(forTimeInterval: 3)
let rssIdle = rssKiB(server.processIdentifier)
let reported = try await mongo.database(serverDatabase).collection("cluster_credentials").count(["status": .int32(1)])
server.terminate()
server.waitUntilExit()
try? await mongo.database(serverDatabase).drop()
try? await mongo.database(baselineDatabase).drop()
await mongo.shutdown()
guard reported == clusters else { log("expected \(clusters) reported clusters in MongoDB, found \(reported)"); exit(1) }

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
let ratio = median(serverRates) / median(baselineRates)
let perCluster = Double(rssIdle - rssStart) / Double(clusters)
func row(_ label: String, _ value: String, _ detail: String = "") -> String {
    label.padding(toLength: 50, withPad: " ", startingAt: 0) + value.leftPad(18) + "   " + detail
}
print("")
print("Credential reports: \(clusters) registered clusters, \(connections) concurrent connections, median of \(rounds) rounds, same nx-27017 server")
print(row("", "median", "all rounds"))
print(row("BCSMongo updateOne upsert, same documents (base)", String(format: "%.0f docs/s", median(baselineRates)), baselineRates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
print(row("PUT .../credentials via bcs serve", String(format: "%.0f reports/s", median(serverRates)), serverRates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
print(row("ratio bcs serve / BCSMongo", String(format: "%.2f", ratio), "target >= 0.80: \(ratio >= 0.8 ? "met" : "NOT met")"))
print("")
print("Server RSS (bcs serve --roles usermanager)")
print(row("idle, before registration", "\(rssStart) KiB"))
print(row("after registering \(clusters) clusters + tokens", "\(rssRegistered) KiB"))
print(row("after \(rounds) report rounds, idle 3 s", "\(rssIdle) KiB"))
print(row("per idle registered cluster", String(format: "%.2f KiB", perCluster), "target <= 16 KiB: \(perCluster <= 16 ? "met" : "NOT met")"))

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
