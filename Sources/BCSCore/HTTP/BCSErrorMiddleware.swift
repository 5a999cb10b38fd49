import BCSMongo
import Hummingbird
import Logging

/// Turns every error a role's handler throws into the BCS envelope.
///
/// `BCSAPIError`s pass through as they are. A transient MongoDB error (server unreachable, timeout)
/// becomes 503 so clients retry; anything else becomes 500 with a generic message — the detail is
/// logged, never returned, so internals do not leak into responses.
public struct BCSErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public let badRequestCode: Int
    public let internalCode: Int
    public let unavailableCode: Int

    public init(badRequestCode: Int, internalCode: Int, unavailableCode: Int) {
        self.badRequestCode = badRequestCode
        self.internalCode = internalCode
        self.unavailableCode = unavailableCode
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as BCSAPIError {
            throw error
        } catch let error as MongoError where error.isTransient || error.kind == .closed {
            context.logger.warning("database unavailable", metadata: ["error": "\(error)"])
            throw BCSAPIError(.serviceUnavailable, code: unavailableCode, "database unavailable, retry later: \(error.kind.rawValue)")
        } catch let error as HTTPError {
            throw BCSAPIError(error.status, code: error.status.code < 500 ? badRequestCode : internalCode, error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw BCSAPIError(.internalServerError, code: internalCode, "internal error")
        }
    }
}
