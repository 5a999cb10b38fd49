import BCSMongo
import Foundation

// Inserts N event-sized documents (~1.5 KiB, shaped like a BCS storage event) with one insertMany
// call through BCSMongo and prints the rate as a JSON line. Benchmarks/mongo-insert.sh runs it beside
// pymongo against the same server and prints the ratio.
//
// usage: MongoInsertBenchmark URI DATABASE COLLECTION COUNT

let arguments = CommandLine.arguments
guard arguments.count == 5, let count = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: MongoInsertBenchmark URI DATABASE COLLECTION COUNT\n".utf8))
    exit(2)
}

/// The same document pymongo inserts (Benchmarks/mongo_insert_pymongo.py builds it identically).
func event(_ i: Int) -> BSONDocument {
    let name = "nginx-deployment-66b6c48dd5-\(String(i, radix: 36))"
    return [
        "id": .string("event-\(i)"),
        "env": "k8s",
        "kind": "Pod",
        "level": "Warning",
        "component": "kubelet",
        "type": "BackOff",
        "describe": .string("Back-off restarting failed container nginx in pod \(name)_default(" + String(repeating: "x", count: 36) + ")"),
        "clusterId": .string("BCS-K8S-\(40000 + i % 16)"),
        "eventTime": .int64(Int64(1_700_000_000 + i)),
        "createTime": .datetime(1_700_000_000_000 + Int64(i)),
        "extraInfo": ["namespace": "default", "name": .string(name), "kind": "Pod"],
        "data": [
            "metadata": [
                "name": .string(name + ".17a8c3d2e1f0b9a8"),
                "namespace": "default",
                "uid": .string(String(format: "%08x-0000-4000-8000-%012x", i, i)),
                "resourceVersion": .string(String(1_000_000 + i)),
                "creationTimestamp": "2026-11-27T17:00:00Z",
                "labels": ["app": "nginx", "pod-template-hash": "66b6c48dd5", "tier": "frontend"],
            ],
            "involvedObject": [
                "kind": "Pod", "namespace": "default", "name": .string(name),
                "uid": .string(String(format: "%08x-1111-4000-8000-%012x", i, i)),
                "apiVersion": "v1", "resourceVersion": .string(String(2_000_000 + i)), "fieldPath": "spec.containers{nginx}",
            ],
            "reason": "BackOff",
            "message": .string("Back-off restarting failed container nginx in pod \(name)_default; " + String(repeating: "lorem ipsum dolor sit amet ", count: 10)),
            "source": ["component": "kubelet", "host": .string("node-\(i % 50).cluster.local")],
            "firstTimestamp": "2026-11-27T16:00:00Z",
            "lastTimestamp": "2026-11-27T17:00:00Z",
            "count": .int32(Int32(1 + i % 20)),
            "type": "Warning",
            "reportingComponent": "kubelet",
            "reportingInstance": .string("node-\(i % 50)"),
        ],
    ]
}

let uri = try MongoURI(arguments[1])
let client = try MongoClient(uri: uri, threads: 2)
let collection = client.database(arguments[2]).collection(arguments[3])
let documents = (0..<count).map(event)
let averageSize = try documents.prefix(100).reduce(0) { $0 + (try $1.bsonBytes().count) } / min(count, 100)

try await collection.drop()
try await client.ping()
let clock = ContinuousClock()
let start = clock.now
let result = try await collection.insertMany(documents, ordered: true)
let elapsed = (clock.now - start)
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let stored = try await collection.count()
try await collection.drop()
await client.shutdown()
guard result.insertedCount == count, stored == count else {
    FileHandle.standardError.write(Data("inserted \(result.insertedCount), counted \(stored), expected \(count)\n".utf8))
    exit(1)
}
print("{\"driver\":\"bcs-mongo\",\"documents\":\(count),\"avg_bytes\":\(averageSize),\"seconds\":\(seconds),\"docs_per_sec\":\(Double(count) / seconds)}")
