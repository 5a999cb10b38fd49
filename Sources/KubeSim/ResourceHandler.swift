import BCSMongo
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

/// The verbs on one resource type: get, list, watch, create, update, patch, delete, and `scale`.
struct ResourceHandler {
    let store: ObjectStore
    let type: ResourceType
    let namespace: String?
    let bookmarkInterval: Duration

    /// Requests bodies above this size are refused (the apiserver's limit is 3 MiB).
    static let maxBody = 3 * 1024 * 1024

    func handle(_ request: Request, name: String?, subresource: String?) async throws -> Response {
        if type.namespaced, name != nil || request.method == .post, namespace == nil { throw KubeStatus.pathNotFound }
        let query = request.uri.queryParameters
        let table = TableView.wanted(accept: request.headers[.accept])
        switch (request.method, name, subresource) {
        case (.get, nil, nil):
            if let watch = query["watch"], watch == "1" || watch == "true" {
                return try await WatchStream(store: store, type: type, namespace: namespace, bookmarkInterval: bookmarkInterval)
                    .response(query: query, table: table)
            }
            return try await list(query: query, table: table)
        case (.get, let name?, nil):
            let object = try await store.get(type, namespace: namespace ?? "", name: name)
            return KubeResponses.json(table ? TableView.table(type, [object], resourceVersion: await store.resourceVersion) : object)
        case (.post, nil, nil):
            let body = try await readObject(request)
            let object = try await create(body, dryRun: query["dryRun"] != nil)
            return KubeResponses.json(object, status: .created)
        case (.put, let name?, nil), (.put, let name?, "status"):
            let body = try await readObject(request)
            guard body.string("metadata", "name") == name else { throw KubeStatus.badRequest("the name of the object (\(body.string("metadata", "name") ?? "")) does not match the name on the URL (\(name))") }
            return KubeResponses.json(try await store.update(type, namespace: namespace ?? "", name: name, object: body))
        case (.patch, let name?, nil), (.patch, let name?, "status"):
            let (patch, kind) = try await readPatch(request)
            if kind == .apply, !(await store.exists(type, namespace: namespace ?? "", name: name)) {
                // Server-side apply to a missing object creates it.
                guard var object = patch.documentValue else { throw KubeStatus.badRequest("an apply patch must be a JSON object") }
                object.set(["metadata", "name"], .string(name))
                return KubeResponses.json(try await create(object, dryRun: query["dryRun"] != nil), status: .created)
            }
            let updated = try await store.modify(type, namespace: namespace ?? "", name: name) { current throws(KubeStatus) in
                try Self.applyPatch(patch, kind: kind, to: current)
            }
            return KubeResponses.json(updated)
        case (.delete, nil, nil):
            return try await deleteCollection(query: query)
        case (.delete, let name?, nil):
            let deleted = try await store.delete(type, namespace: namespace ?? "", name: name)
            if type.name == "pods" || type.name == "namespaces" { return KubeResponses.json(deleted) }
            return KubeResponses.json(["kind": "Status", "apiVersion": "v1", "metadata": .document([:]), "status": "Success",
                                       "details": .document(["name": .string(name), "group": .string(type.group), "kind": .string(type.name),
                                                             "uid": deleted["metadata"]?.doc["uid"] ?? .null])])
        case (let method, let name?, let sub?) where type.name == "pods" && [.get, .post].contains(method) && ["exec", "attach", "portforward"].contains(sub):
            // Reached only by a request that is no upgrade (refused upgrades are answered by `KubeSimChannel`).
            _ = try await store.get(type, namespace: namespace ?? "", name: name)
            throw KubeStatus.badRequest("Upgrade request required")
        case (_, let name?, "scale") where type.name == "deployments":
            return try await ScaleSubresource(store: store, namespace: namespace ?? "").handle(request, name: name)
        case (.get, let name?, "log") where type.name == "pods":
            return try await PodLogs(store: store, namespace: namespace ?? "").response(name: name, query: query)
        default:
            throw KubeStatus.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    private func list(query: FlatDictionary<Substring, Substring>, table: Bool) async throws -> Response {
        let labels = try Selector(parsing: String(query["labelSelector"] ?? ""))
        let fields = try Selector(parsing: String(query["fieldSelector"] ?? ""))
        let (all, resourceVersion) = await store.list(type, namespace: namespace)
        let matching = all.filter { labels.matchesLabels(of: $0) && fields.matchesFields(of: $0) }
        var start = 0
        if let token = query["continue"], !token.isEmpty {
            guard let data = Data(base64Encoded: String(token)), let offset = Int(String(decoding: data, as: UTF8.self)), offset >= 0 else {
                throw KubeStatus.badRequest("continue key is not valid")
            }
            start = min(offset, matching.count)
        }
        var end = matching.count
        if let limit = query["limit"].flatMap({ Int($0) }), limit > 0 { end = min(matching.count, start + limit) }
        let page = Array(matching[start..<end])
        let next = end < matching.count ? Data(String(end).utf8).base64EncodedString() : nil
        if table { return KubeResponses.json(TableView.table(type, page, resourceVersion: resourceVersion, continueToken: next)) }
        var metadata: BSONDocument = ["resourceVersion": .string(String(resourceVersion))]
        if let next {
            metadata["continue"] = .string(next)
            metadata["remainingItemCount"] = .int64(Int64(matching.count - end))
        }
        return KubeResponses.json(["kind": .string(type.listKind), "apiVersion": .string(type.groupVersion),
                                   "metadata": .document(metadata), "items": .array(page.map { BSON.document($0) })])
    }

    private func create(_ body: BSONDocument, dryRun: Bool) async throws -> BSONDocument {
        var object = body
        var name = object.string("metadata", "name") ?? ""
        if name.isEmpty, let prefix = object.string("metadata", "generateName"), !prefix.isEmpty {
            name = prefix + String(UUID().uuidString.lowercased().prefix(5))
            object.set(["metadata", "name"], .string(name))
        }
        guard !name.isEmpty else {
            throw KubeStatus.invalid(kind: type.kind, name: "", field: "metadata.name", message: "Required value: name or generateName is required")
        }
        guard Self.validName(name) else {
            throw KubeStatus.invalid(kind: type.kind, name: name, field: "metadata.name",
                                     message: "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")
        }
        if let kind = object.string("kind"), kind != type.kind {
            throw KubeStatus.badRequest("the kind of the object (\(kind)) does not match the resource (\(type.kind))")
        }
        // An empty namespace in the body means "the request's" (kubectl sends one when its context names none).
        if let given = object.string("metadata", "namespace"), !given.isEmpty, type.namespaced, given != namespace {
            throw KubeStatus.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        if dryRun { return Simulation.fill(type, object) }
        return try await store.create(type, namespace: namespace ?? "", object: object)
    }

    static func validName(_ name: String) -> Bool {
        guard name.count <= 253, let first = name.first, let last = name.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "." }
    }

    private func readObject(_ request: Request) async throws -> BSONDocument {
        let contentType = request.headers[.contentType] ?? "application/json"
        if contentType.hasPrefix("application/vnd.kubernetes.protobuf") {
            var request = request
            let buffer = try await request.collectBody(upTo: Self.maxBody)
            return try KubeProtobuf.decode(Array(buffer.readableBytesView))
        }
        guard !contentType.contains("protobuf"), !contentType.contains("yaml") else {
            throw KubeStatus.unsupportedMedia(contentType)
        }
        return try await Self.readJSON(request).documentValue ?? { throw KubeStatus.badRequest("the request body is not a JSON object") }()
    }

    static func readJSON(_ request: Request) async throws -> BSON {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBody)
        do {
            return try JSONText.parse(Array(buffer.readableBytesView))
        } catch {
            throw KubeStatus.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    enum PatchKind { case merge, strategic, json, apply }

    private func readPatch(_ request: Request) async throws -> (BSON, PatchKind) {
        let contentType = request.headers[.contentType] ?? ""
        let kind: PatchKind
        switch contentType.split(separator: ";").first.map({ String($0).trimmingCharacters(in: .whitespaces) }) ?? "" {
        case "application/merge-patch+json": kind = .merge
        case "application/strategic-merge-patch+json": kind = .strategic
        case "application/json-patch+json": kind = .json
        // kubectl sends JSON under this media type (kubectl-wire.md §2.4); JSON is YAML.
        case "application/apply-patch+yaml": kind = .apply
        default: throw KubeStatus.unsupportedMedia(contentType)
        }
        return (try await Self.readJSON(request), kind)
    }

    /// `deletecollection`: deletes what the selectors match, answering with the deleted list.
    private func deleteCollection(query: FlatDictionary<Substring, Substring>) async throws -> Response {
        let labels = try Selector(parsing: String(query["labelSelector"] ?? ""))
        let fields = try Selector(parsing: String(query["fieldSelector"] ?? ""))
        var deleted: [BSON] = []
        for object in await store.list(type, namespace: namespace).0 where labels.matchesLabels(of: object) && fields.matchesFields(of: object) {
            guard let name = object.string("metadata", "name"), let gone = try? await store.delete(type, namespace: object.string("metadata", "namespace") ?? "", name: name) else { continue }
            deleted.append(.document(gone))
        }
        return KubeResponses.json(["kind": .string(type.listKind), "apiVersion": .string(type.groupVersion),
                                   "metadata": .document(["resourceVersion": .string(String(await store.resourceVersion))]), "items": .array(deleted)])
    }

    static func applyPatch(_ patch: BSON, kind: PatchKind, to current: BSONDocument) throws(KubeStatus) -> BSONDocument {
        var result: BSONDocument
        if kind == .json {
            result = try JSONPatch.apply(patch, to: current)
        } else {
            guard case .document = patch else { throw .badRequest("a merge patch must be a JSON object") }
            guard let merged = MergePatch.merge(.document(current), patch, strategic: kind != .merge)?.documentValue else {
                throw .badRequest("the patch removed the whole object")
            }
            result = merged
        }
        // A patch that carries no resourceVersion must not trip the optimistic-concurrency check.
        if kind == .json || patch.doc["metadata"]?.doc["resourceVersion"] == nil {
            result.set(["metadata", "resourceVersion"], current["metadata"]?.doc["resourceVersion"])
        }
        return result
    }
}
