import Hummingbird

extension RouterGroup where Context == BCSRequestContext {
    /// Answers every path under this group that no route matched with a 404 in BCS's envelope,
    /// so a typo in a path gets the API's own error shape rather than a bare 404.
    ///
    /// Register it after the role's routes: the router prefers every concrete route over `**`.
    public func addUnknownPathFallback(code: Int) {
        for method in [HTTPRequest.Method.get, .put, .post, .delete, .patch] {
            on("**", method: method) { request, _ -> Response in
                throw BCSAPIError(.notFound, code: code, "no such route: \(request.method) \(request.uri.path)")
            }
        }
    }
}
