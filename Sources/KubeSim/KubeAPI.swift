import BCSMongo
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The simulator's HTTP front: authentication, then the apiserver's URL space.
///
/// A single responder rather than a `Router`: Kubernetes paths nest namespaces, resources, names and
/// subresources in ways that are simpler to split by hand than to spell as route patterns.
struct KubeAPI: HTTPResponder {
    typealias Context = BasicRequestContext
    let store: ObjectStore
    let token: String
    let serverAddress: String
    let logger: Logger
    let bookmarkInterval: Duration

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        switch path {
        case "/healthz", "/livez", "/readyz": return KubeResponses.text("ok")
        case "/version":
            return KubeResponses.json(["major": .string(KubeSimVersion.major), "minor": .string(KubeSimVersion.minor),
                                       "gitVersion": .string(KubeSimVersion.gitVersion), "gitCommit": "0000000000000000000000000000000000000000",
                                       "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "swift",
                                       "compiler": "swiftc", "platform": "linux/amd64"])
        default: break
        }
        guard authorized(request) else {
            logger.debug("unauthorized", metadata: ["method": "\(request.method)", "path": "\(path)"])
            return KubeResponses.error(.unauthorized)
        }
        // An apiserver would act as the impersonated user; the simulator names it in its log, so
        // tests can see which identity a proxy forwarded.
        if let user = request.headers[HTTPField.Name("Impersonate-User")!] {
            let groups = request.headers[values: HTTPField.Name("Impersonate-Group")!].joined(separator: ",")
            logger.info("impersonated request", metadata: ["impersonate_user": "\(user)", "impersonate_groups": "\(groups)",
                                                           "method": "\(request.method)", "path": "\(path)"])
        }
        let response: Response
        do {
            response = try await route(request, path: path)
        } catch let status as KubeStatus {
            response = KubeResponses.error(status)
        }
        logger.debug("request", metadata: ["method": "\(request.method)", "uri": "\(request.uri)", "status": "\(response.status.code)"])
        return response
    }

    private func authorized(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        return header.dropFirst("Bearer ".count) == token[...]
    }

    private func route(_ request: Request, path: String) async throws -> Response {
        let segments = path.split(separator: "/").map(String.init)
        switch segments.first {
        case "api":
            if segments.count == 1 {
                if let version = AggregatedDiscovery.version(accept: request.headers[.accept]) {
                    return KubeResponses.json(AggregatedDiscovery.list(core: true, version: version), contentType: AggregatedDiscovery.contentType(version))
                }
                return KubeResponses.json(Discovery.apiVersions(serverAddress: serverAddress))
            }
            guard segments[1] == "v1" else { throw KubeStatus.pathNotFound }
            if segments.count == 2 { return KubeResponses.json(Discovery.resourceList(groupVersion: "v1")!) }
            return try await resource(request, groupVersion: "v1", rest: Array(segments.dropFirst(2)))
        case "apis":
            if segments.count == 1 {
                if let version = AggregatedDiscovery.version(accept: request.headers[.accept]) {
                    return KubeResponses.json(AggregatedDiscovery.list(core: false, version: version), contentType: AggregatedDiscovery.contentType(version))
                }
                return KubeResponses.json(Discovery.apiGroupList())
            }
            guard segments.count >= 3 else { throw KubeStatus.pathNotFound }
            let groupVersion = "\(segments[1])/\(segments[2])"
            if segments.count == 3 {
                guard let list = Discovery.resourceList(groupVersion: groupVersion) else { throw KubeStatus.pathNotFound }
                return KubeResponses.json(list)
            }
            return try await resource(request, groupVersion: groupVersion, rest: Array(segments.dropFirst(3)))
        case "openapi":
            if segments == ["openapi", "v3"] { return KubeResponses.json(OpenAPIDocuments.index()) }
            if segments == ["openapi", "v2"] {
                guard OpenAPIV2Document.acceptsJSON(request.headers[.accept]) else {
                    throw KubeStatus(code: 406, reason: "NotAcceptable", message: "kube-sim serves /openapi/v2 as application/json only")
                }
                return KubeResponses.json(OpenAPIV2Document.document())
            }
            if segments.count >= 3, segments[1] == "v3" {
                // `/openapi/v3/api/v1` → `v1`, `/openapi/v3/apis/apps/v1` → `apps/v1`.
                let groupVersion = segments.dropFirst(3).joined(separator: "/")
                if let doc = OpenAPIDocuments.groupVersion(groupVersion) { return KubeResponses.json(doc) }
            }
            throw KubeStatus.pathNotFound
        default:
            throw KubeStatus.pathNotFound
        }
    }

    /// Splits `namespaces/{ns}/{resource}/{name}/{sub}` or `{resource}/{name}/{sub}` and dispatches.
    private func resource(_ request: Request, groupVersion: String, rest: [String]) async throws -> Response {
        var namespace: String?
        var parts = rest
        if parts.count >= 3, parts[0] == "namespaces", ResourceCatalog.find(groupVersion: groupVersion, name: parts[2])?.namespaced == true {
            namespace = parts[1]
            parts = Array(parts.dropFirst(2))
        }
        guard let first = parts.first, let type = ResourceCatalog.find(groupVersion: groupVersion, name: first), parts.count <= 3 else {
            throw KubeStatus.pathNotFound
        }
        if type.namespaced == false { namespace = nil }
        let handler = ResourceHandler(store: store, type: type, namespace: namespace, bookmarkInterval: bookmarkInterval)
        return try await handler.handle(request, name: parts.count > 1 ? parts[1] : nil, subresource: parts.count > 2 ? parts[2] : nil)
    }
}
