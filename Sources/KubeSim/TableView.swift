import BCSMongo

/// `meta.k8s.io/v1` Table responses: the columns `kubectl get` prints for each kind.
///
/// kubectl prints only NAME and AGE for a plain list, so every kind gets the apiserver's usual
/// columns here (kubectl-wire.md §2.1).
enum TableView {
    /// Whether the Accept header asks for a Table.
    static func wanted(accept: String?) -> Bool { accept?.contains("as=Table") ?? false }

    static func columns(_ type: ResourceType) -> [(String, Int)] {
        switch type.name {
        case "pods": [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1)]
        case "deployments": [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0)]
        case "namespaces": [("Name", 0), ("Status", 0), ("Age", 0)]
        case "configmaps": [("Name", 0), ("Data", 0), ("Age", 0)]
        case "secrets": [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]
        case "services": [("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("Ports", 0), ("Age", 0)]
        case "nodes": [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0)]
        case "events": [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Message", 0)]
        default: [("Name", 0), ("Age", 0)]
        }
    }

    static func cells(_ type: ResourceType, _ o: BSONDocument) -> [String] {
        let name = o.string("metadata", "name") ?? ""
        let age = Timestamps.age(since: o.string("metadata", "creationTimestamp"))
        let status = o["status"]?.doc ?? BSONDocument()
        func int(_ d: BSONDocument, _ k: String) -> Int { d[k]?.intValue ?? 0 }
        switch type.name {
        case "pods":
            let statuses = status["containerStatuses"]?.arrayValue ?? []
            let ready = statuses.filter { $0.doc["ready"]?.boolValue == true }.count
            let restarts = statuses.reduce(0) { $0 + ($1.doc["restartCount"]?.intValue ?? 0) }
            return [name, "\(ready)/\(statuses.count)", status["phase"]?.stringValue ?? "Pending", "\(restarts)", age,
                    status["podIP"]?.stringValue ?? "<none>", o.string("spec", "nodeName") ?? "<none>"]
        case "deployments":
            let replicas = o["spec"]?.doc["replicas"]?.intValue ?? 1
            return [name, "\(int(status, "readyReplicas"))/\(replicas)", "\(int(status, "updatedReplicas"))", "\(int(status, "availableReplicas"))", age]
        case "namespaces": return [name, status["phase"]?.stringValue ?? "Active", age]
        case "configmaps": return [name, "\((o["data"]?.doc.count ?? 0) + (o["binaryData"]?.doc.count ?? 0))", age]
        case "secrets": return [name, o.string("type") ?? "Opaque", "\(o["data"]?.doc.count ?? 0)", age]
        case "services":
            let ports = (o["spec"]?.doc["ports"]?.arrayValue ?? []).map { "\($0.doc["port"]?.intValue ?? 0)/\($0.doc["protocol"]?.stringValue ?? "TCP")" }
            return [name, o.string("spec", "type") ?? "ClusterIP", o.string("spec", "clusterIP") ?? "<none>", ports.isEmpty ? "<none>" : ports.joined(separator: ","), age]
        case "nodes": return [name, "Ready", "<none>", age, o.string("status", "nodeInfo", "kubeletVersion") ?? ""]
        case "events":
            let involved = o["involvedObject"]?.doc ?? BSONDocument()
            let object = "\((involved["kind"]?.stringValue ?? "").lowercased())/\(involved["name"]?.stringValue ?? "")"
            return [Timestamps.age(since: o.string("lastTimestamp") ?? o.string("metadata", "creationTimestamp")),
                    o.string("type") ?? "", o.string("reason") ?? "", object, o.string("message") ?? ""]
        default: return [name, age]
        }
    }

    static func table(_ type: ResourceType, _ objects: [BSONDocument], resourceVersion: Int, continueToken: String? = nil, withColumns: Bool = true) -> BSONDocument {
        let columns: [BSON] = withColumns ? columns(type).map { column in
            .document(["name": .string(column.0), "type": "string", "format": column.0 == "Name" ? "name" : "",
                       "description": .string(column.0), "priority": .int64(Int64(column.1))])
        } : []
        let rows: [BSON] = objects.map { object in
            var metadata = object["metadata"]?.doc ?? BSONDocument()
            metadata["managedFields"] = nil
            return .document(["cells": .array(cells(type, object).map { .string($0) }),
                              "object": .document(["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": .document(metadata)])])
        }
        var meta: BSONDocument = ["resourceVersion": .string(String(resourceVersion))]
        if let continueToken { meta["continue"] = .string(continueToken) }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": .document(meta), "columnDefinitions": .array(columns), "rows": .array(rows)]
    }
}
