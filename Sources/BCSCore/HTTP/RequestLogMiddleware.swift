import Hummingbird
import Logging

/// Logs each request's method and path — never its query string or headers.
///
/// Query strings can carry secrets (the user-manager's permission verification accepts
/// `user_token` as a query parameter), and Hummingbird's `LogRequestsMiddleware` logs the whole URI.
public struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    public let level: Logger.Level

    public init(_ level: Logger.Level) {
        self.level = level
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        context.logger.log(level: level, "Request", metadata: [
            "hb.request.path": .string(request.uri.path),
            "hb.request.method": .string(request.method.rawValue),
        ])
        return try await next(request, context)
    }
}
