import BCSKube
import Synchronization

/// The service-account token, re-read from its file at most once per period (projected tokens rotate).
final class TokenCache: Sendable {
    private let kube: KubeConnection
    private let period: Duration
    private let state = Mutex<(token: String?, readAt: ContinuousClock.Instant?)>((nil, nil))

    init(kube: KubeConnection, period: Duration) {
        self.kube = kube
        self.period = period
    }

    func current() throws -> String? {
        let now = ContinuousClock.now
        if let cached = state.withLock({ state -> String?? in
            guard let readAt = state.readAt, now - readAt < period else { return nil }
            return .some(state.token)
        }) {
            return cached
        }
        let token = try kube.currentToken()
        state.withLock { $0 = (token, now) }
        return token
    }
}
