import AsyncHTTPClient
import BCSMongo
import Foundation
import NIOCore

// Storage role benchmark, run by Benchmarks/storage.sh against a release `bcs serve --roles storage`
// and the same MongoDB-compatible server:
//   1. ingest: COUNT events (~1.6 KiB each) through POST /bcsstorage/v1/events/batch, batches of 500
//      from 8 concurrent clients, beside the same documents bulk-inserted straight through BCSMongo
//      (insertMany of 500, 8 concurrent tasks) into another collection;
//   2. query: the p50/p99 latency of a filtered events query (clusterId + namespace + time range,
//      length 100) over everything stored.
// Prints one JSON line per measurement.
//
// usage: StorageBenchmark BASE_URL MONGO_URI DATABASE COUNT QUERIES

let args = CommandLine.arguments
guard args.count == 6, let count = Int(args[4]), let queries = Int(args[5]) else {
    FileHandle.standardError.write(Data("usage: StorageBenchmark BASE_URL MONGO_URI DATABASE COUNT QUERIES\n".utf8))
    exit(2)
}
let (base, database) = (args[1], args[3])
let batchSize = 500
let clients = 8
let clusters = 20
let namespaces = ["default", "kube-system", "prod", "staging", "monitoring"]

/// One event as k8s-watch sends it (eventTime in unix seconds).
func event(_ i: Int) -> BSONDocument {
    let name = "nginx-deployment-66b6c48dd5-\(String(i, radix: 36))"
    let namespace = namespaces[i % namespaces.count]
    return [
        "id": .string("event-\(i)"), "env": "k8s", "kind": "Pod", "level": "Warning", "component": "kubelet", "type": "BackOff",
        "describe": .string("Back-off restarting failed container nginx in pod \(name)_\(namespace)"),
        "clusterId": .string("BCS-K8S-\(40000 + i % clusters)"),
        "eventTime": .int64(Int64(1_700_000_000 + i / 10)),
        "extraInfo": ["namespace": .string(namespace), "name": .string(name), "kind": "Pod"],
        "data": [
            "metadata": [
                "name": .string(name + ".17a8c3d2e1f0b9a8"), "namespace": .string(namespace),
                "uid": .string(String(format: "%08x-0000-4000-8000-%012x", i, i)),
                "resourceVersion": .string(String(1_000_000 + i)), "creationTimestamp": "2026-11-27T17:00:00Z",
            ],
            "involvedObject": [
                "kind": "Pod", "namespace": .string(namespace), "name": .string(name),
                "uid": .string(String(format: "%08x-1111-4000-8000-%012x", i, i)), "apiVersion": "v1",
                "resourceVersion": .string(String(2_000_000 + i)), "fieldPath": "spec.containers{nginx}",
            ],
            "reason": "BackOff",
            "message": .string("Back-off restarting failed container nginx in pod \(name); " + String(repeating: "lorem ipsum dolor sit amet ", count: 20)),
            "source": ["component": "kubelet", "host": .string("node-\(i % 50).cluster.local")],
            "firstTimestamp": "2026-11-27T16:00:00Z", "lastTimestamp": "2026-11-27T17:00:00Z",
            "count": .int32(Int32(1 + i % 20)), "type": "Warning", "reportingComponent": "kubelet", "reportingInstance": .string("node-\(i % 50)"),
        ],
    ]
}

/// The document storage keeps for an event (what the direct baseline inserts).
func stored(_ e: BSONDocument) -> BSONDocument {
    var d = e
    d["eventTime"] = .datetime((e["eventTime"]?.intValue.map(Int64.init) ?? 0) * 1000)
    d["_uid"] = e.value(atPath: "data.metadata.uid")
    d["_rv"] = .int64(Int64(e.value(atPath: "data.metadata.resourceVersion")?.stringValue ?? "") ?? -1)
    d["createTime"] = .date(Date())
    d["updateTime"] = .date(Date())
    return d
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

let events = (0..<count).map(event)
let averageBytes = try events.prefix(100).reduce(0) { $0 + (try $1.bsonBytes().count) } / 100
let batches: [[BSONDocument]] = stride(from: 0, to: count, by: batchSize).map { Array(events[$0..<min($0 + batchSize, count)]) }
let bodies: [ByteBuffer] = try batches.map { ByteBuffer(bytes: try JSONEncoder().encode(BSON.array($0.map(BSON.document)))) }

// 1a. Direct: BCSMongo insertMany into a baseline collection, same batching and concurrency.
let client = try MongoClient(uri: MongoURI(args[2]), threads: clients)
let direct = client.database(database).collection("events_direct_baseline")
try await direct.drop()
// The same indexes the storage role keeps on its events collection (Sources/BCSStorage/Events/EventStore.swift).
try await direct.createIndexes([
    IndexModel(keys: ["clusterId": 1, "_uid": 1], unique: true),
    IndexModel(keys: ["clusterId": 1, "eventTime": -1]),
    IndexModel(keys: ["clusterId": 1, "extraInfo.namespace": 1, "eventTime": -1]),
    IndexModel(keys: ["eventTime": -1]),
    IndexModel(keys: ["createTime": 1]),
])
let storedBatches = batches.map { $0.map(stored) }
let clock = ContinuousClock()
var start = clock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in 0..<clients {
        group.addTask {
            for index in stride(from: worker, to: storedBatches.count, by: clients) {
                _ = try await direct.insertMany(storedBatches[index], ordered: false)
            }
        }
    }
    try await group.waitForAll()
}
let directSeconds = seconds(clock.now - start)
let directCount = try await direct.count()
try await direct.drop()
print(#"{"measure":"ingest","path":"direct insertMany (BCSMongo)","documents":\#(directCount),"avg_bytes":\#(averageBytes),"seconds":\#(directSeconds),"docs_per_sec":\#(Double(directCount) / directSeconds)}"#)

// 1b. Through the storage API.
let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: clients)))
start = clock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in 0..<clients {
        group.addTask {
            for index in stride(from: worker, to: bodies.count, by: clients) {
                var request = HTTPClientRequest(url: base + "/bcsstorage/v1/events/batch")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(bodies[index])
                let response = try await http.execute(request, timeout: .seconds(300))
                let body = try await response.body.collect(upTo: 1 << 20)
                guard response.status == .ok else { throw NSError(domain: "ingest", code: Int(response.status.code), userInfo: [NSLocalizedDescriptionKey: String(buffer: body)]) }
            }
        }
    }
    try await group.waitForAll()
}
let apiSeconds = seconds(clock.now - start)
let apiCount = try await client.database(database).collection("events").count()
print(#"{"measure":"ingest","path":"POST /events/batch","documents":\#(apiCount),"avg_bytes":\#(averageBytes),"seconds":\#(apiSeconds),"docs_per_sec":\#(Double(apiCount) / apiSeconds)}"#)

// 2. Filtered query latency over everything stored: through the API, and the same find + count
//    straight through BCSMongo as the baseline.
let stored = client.database(database).collection("events")
var latencies: [Double] = []
var directLatencies: [Double] = []
for q in 0..<queries {
    let cluster = "BCS-K8S-\(40000 + q % clusters)"
    let namespace = namespaces[(q / clusters) % namespaces.count]
    // A 1,000-second window: ~10,000 stored events of all clusters, ~100 of this cluster and namespace.
    let begin = 1_700_000_000 + (q * 37) % max(count / 10 - 1000, 1)
    let url = "\(base)/bcsstorage/v1/events?clusterId=\(cluster)&extraInfo.namespace=\(namespace)&timeBegin=\(begin)&timeEnd=\(begin + 1000)&length=100"
    let t0 = clock.now
    let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(120))
    _ = try await response.body.collect(upTo: 64 << 20)
    guard response.status == .ok else { throw NSError(domain: "query", code: Int(response.status.code)) }
    latencies.append(seconds(clock.now - t0) * 1000)

    let filter: BSONDocument = [
        "clusterId": .string(cluster), "extraInfo.namespace": .string(namespace),
        "eventTime": ["$gt": .datetime(Int64(begin) * 1000), "$lt": .datetime(Int64(begin + 1000) * 1000)],
    ]
    let t1 = clock.now
    async let total = stored.countByCommand(filter)
    _ = try await stored.find(filter, options: FindOptions(sort: ["eventTime": -1, "_id": -1], limit: 100))
    _ = try await total
    directLatencies.append(seconds(clock.now - t1) * 1000)
}
let sorted = latencies.sorted()
func percentile(_ p: Double, of values: [Double]) -> Double { values[min(values.count - 1, max(0, Int((p * Double(values.count)).rounded(.up)) - 1))] }
print(#"{"measure":"query","path":"GET /events","stored":\#(apiCount),"queries":\#(queries),"p50_ms":\#(percentile(0.5, of: sorted)),"p99_ms":\#(percentile(0.99, of: sorted)),"max_ms":\#(sorted.last ?? 0)}"#)
let directSorted = directLatencies.sorted()
print(#"{"measure":"query","path":"direct find + count (BCSMongo)","stored":\#(apiCount),"queries":\#(queries),"p50_ms":\#(percentile(0.5, of: directSorted)),"p99_ms":\#(percentile(0.99, of: directSorted)),"max_ms":\#(directSorted.last ?? 0)}"#)
try await http.shutdown()
await client.shutdown()
