"""Baseline for Benchmarks/mongo-insert.sh: the same documents inserted with pymongo's insert_many.

usage: python mongo_insert_pymongo.py URI DATABASE COLLECTION COUNT
Prints one JSON line, like the Swift benchmark.
"""
import datetime
import json
import sys
import time

import bson
from pymongo import MongoClient


def event(i: int) -> dict:
    name = "nginx-deployment-66b6c48dd5-" + base36(i)
    return {
        "id": f"event-{i}",
        "env": "k8s",
        "kind": "Pod",
        "level": "Warning",
        "component": "kubelet",
        "type": "BackOff",
        "describe": f"Back-off restarting failed container nginx in pod {name}_default(" + "x" * 36 + ")",
        "clusterId": f"BCS-K8S-{40000 + i % 16}",
        "eventTime": bson.Int64(1_700_000_000 + i),
        "createTime": datetime.datetime.fromtimestamp((1_700_000_000_000 + i) / 1000, datetime.timezone.utc),
        "extraInfo": {"namespace": "default", "name": name, "kind": "Pod"},
        "data": {
            "metadata": {
                "name": name + ".17a8c3d2e1f0b9a8",
                "namespace": "default",
                "uid": "%08x-0000-4000-8000-%012x" % (i, i),
                "resourceVersion": str(1_000_000 + i),
                "creationTimestamp": "2026-11-27T17:00:00Z",
                "labels": {"app": "nginx", "pod-template-hash": "66b6c48dd5", "tier": "frontend"},
            },
            "involvedObject": {
                "kind": "Pod", "namespace": "default", "name": name,
                "uid": "%08x-1111-4000-8000-%012x" % (i, i),
                "apiVersion": "v1", "resourceVersion": str(2_000_000 + i), "fieldPath": "spec.containers{nginx}",
            },
            "reason": "BackOff",
            "message": f"Back-off restarting failed container nginx in pod {name}_default; " + "lorem ipsum dolor sit amet " * 10,
            "source": {"component": "kubelet", "host": f"node-{i % 50}.cluster.local"},
            "firstTimestamp": "2026-11-27T16:00:00Z",
            "lastTimestamp": "2026-11-27T17:00:00Z",
            "count": 1 + i % 20,
            "type": "Warning",
            "reportingComponent": "kubelet",
            "reportingInstance": f"node-{i % 50}",
        },
    }


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def main() -> None:
    uri, database, collection_name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = MongoClient(uri)
    collection = client[database][collection_name]
    documents = [event(i) for i in range(count)]
    avg = sum(len(bson.encode(d)) for d in documents[:100]) // min(count, 100)
    collection.drop()
    client.admin.command("ping")
    start = time.perf_counter()
    result = collection.insert_many(documents, ordered=True)
    seconds = time.perf_counter() - start
    stored = collection.count_documents({})
    collection.drop()
    if len(result.inserted_ids) != count or stored != count:
        sys.exit(f"inserted {len(result.inserted_ids)}, counted {stored}, expected {count}")
    print(json.dumps({"driver": "pymongo", "documents": count, "avg_bytes": avg, "seconds": seconds, "docs_per_sec": count / seconds}))


if __name__ == "__main__":
    main()
