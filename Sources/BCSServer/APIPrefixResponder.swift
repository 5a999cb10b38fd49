import BCSCore
import Hummingbird

/// Serves the gateway's public paths of co-hosted roles: `/bcsapi/v4/usermanager/…` as
/// `/usermanager/…` and `/bcsapi/v4/storage/…` as `/bcsstorage/v1/…`.
///
/// BCS's documented curl commands use the gateway paths. When the role runs in this process the
/// request is answered in place, with no proxy hop. (Forwarding to a role in another process is
/// the gateway role's job.) Rewriting happens before routing, so the role's handlers, middleware
/// and parameters are exactly those of its own paths.
struct APIPrefixResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BCSRequestContext {
    typealias Context = BCSRequestContext

    struct Rewrite: Sendable {
        let from: String
        let to: String
    }

    let inner: Inner
    let rewrites: [Rewrite]
    /// Checks of public paths (the gateway's on `/bcsapi/v4/storage/`), whether the role is answered in place or forwarded.
    var guards: [PublicPathGuard] = []

    /// The rewrites for the roles hosted in this process.
    static func rewrites(for roles: [Role]) -> [Rewrite] {
        var rules: [Rewrite] = []
        if roles.contains(.usermanager) { rules.append(Rewrite(from: "/bcsapi/v4/usermanager/", to: "/usermanager/")) }
        if roles.contains(.storage) { rules.append(Rewrite(from: "/bcsapi/v4/storage/", to: "/bcsstorage/v1/")) }
        return rules
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        if let path = request.head.path {
            for check in guards where path.hasPrefix(check.prefix) {
                do {
                    try await check.check(request)
                } catch let error as any HTTPResponseError {
                    // This runs before the router, so its error middleware would not shape the answer.
                    return try error.response(from: request, context: context)
                }
            }
        }
        guard let path = request.head.path, let rule = rewrites.first(where: { path.hasPrefix($0.from) }) else {
            return try await inner.respond(to: request, context: context)
        }
        var head = request.head
        head.path = rule.to + path.dropFirst(rule.from.count)
        return try await inner.respond(to: Request(head: head, body: request.body), context: context)
    }
}
