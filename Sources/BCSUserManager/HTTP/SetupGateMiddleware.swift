import BCSCore
import Hummingbird

/// Answers 503 (BCS envelope) until the role's start-up work is done, so no request meets a
/// missing index, role or bootstrap admin.
struct SetupGateMiddleware: RouterMiddleware {
    typealias Context = BCSRequestContext
    let state: SetupState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard state.isReady else { throw UMError.starting }
        return try await next(request, context)
    }
}
