import AsyncHTTPClient
import BCSCore
import BCSKube
import Foundation
import Logging
import Metrics
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// Report mode: the agent PUTs its apiserver address, CA and current token to user-manager.
///
/// As BCS 1.19.x: `PUT {bke-address}/bcsapi/v4/usermanager/v1/clusters/{id}/credentials` with
/// `{register_token, server_addresses, cacert_data, user_token}` and no Authorization header.
/// Unlike 1.19.x (which read the token once at start, so rotated projected tokens went stale)
/// the token file is read again for every report.
public final class CredentialReporter: Sendable {
    public struct Settings: Sendable {
        public var gateway: GatewayAddress
        public var trust: GatewayTrust
        public var clusterID: String
        public var registerToken: String
        public var kube: KubeConnection
        /// `--external-proxy-addresses`: replaces the advertised apiserver address when set.
        public var externalAddresses: [String]
        public var period: Duration
        /// Retry delays after a failed report (capped at the period).
        public var backoff: Backoff

        public init(gateway: GatewayAddress, trust: GatewayTrust, clusterID: String, registerToken: String, kube: KubeConnection,
                    externalAddresses: [String] = [], period: Duration = .seconds(60),
                    backoff: Backoff = Backoff(initial: .seconds(1), maximum: .seconds(30), jitter: 0.5)) {
            self.gateway = gateway
            self.trust = trust
            self.clusterID = clusterID
            self.registerToken = registerToken
            self.kube = kube
            self.externalAddresses = externalAddresses
            self.period = period
            self.backoff = backoff
        }
    }

    /// The JSON body, with BCS's field names.
    struct Report: Encodable {
        var register_token: String
        var server_addresses: String
        var cacert_data: String
        var user_token: String
    }

    public let settings: Settings
    let logger: Logger
    let client: HTTPClient
    private let state = Mutex<(reports: Int, lastError: String?)>((0, nil))

    static let accepted = Counter(label: "bcs_kubeagent_reports_total", dimensions: [("result", "accepted")])
    static let failed = Counter(label: "bcs_kubeagent_reports_total", dimensions: [("result", "failed")])

    public init(settings: Settings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: try settings.trust.tlsConfiguration(), redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(30))
        )
        configuration.httpVersion = .http1Only
        // A refused connection or a bad certificate is reported at once, with its cause, not retried
        // inside one attempt until the deadline (the reporter's own loop retries with backoff).
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Reports accepted so far.
    public var reportsAccepted: Int { state.withLock { $0.reports } }
    /// The last failure, worded for the operator; nil after a success.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// The advertised apiserver addresses, `;`-joined and sorted as BCS does.
    var serverAddresses: String {
        let list = settings.externalAddresses.isEmpty ? [settings.kube.server] : settings.externalAddresses
        return list.sorted().joined(separator: ";")
    }

    /// Sends one report; throws an `AgentError` saying what is wrong.
    public func reportOnce() async throws {
        let token: String
        do {
            guard let current = try settings.kube.currentToken() else {
                throw AgentError.configuration("no service-account token: the kubeconfig has none and no in-cluster token file exists")
            }
            token = current
        } catch let error as KubeConnectionError {
            throw AgentError.configuration(error.description)
        }
        guard let ca = settings.kube.caPEM, !ca.isEmpty else {
            throw AgentError.configuration("no apiserver CA to report (the kubeconfig has no certificate-authority)")
        }
        let body = Report(register_token: settings.registerToken, server_addresses: serverAddresses, cacert_data: ca, user_token: token)
        let url = settings.gateway.baseURL + "/bcsapi/v4/usermanager/v1/clusters/\(settings.clusterID)/credentials"
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "bcs-kube-agent")
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(30))
        } catch {
            throw AgentError.classify(error, address: settings.gateway.authority)
        }
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let message = AgentError.message(fromBody: text)
        if response.status.code >= 400 {
            if message.contains("register token") || response.status == .unauthorized {
                throw AgentError.registerTokenRefused("HTTP \(response.status.code): \(message)")
            }
            throw AgentError.gatewayRefused(status: Int(response.status.code), message: message)
        }
        if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], let code = object["code"] as? Int, code != 0 {
            throw AgentError.gatewayRefused(status: Int(response.status.code), message: "code \(code): \(message)")
        }
    }

    /// Reports now, then every period; a failure is retried sooner (capped backoff, jitter) until the next success.
    public func run() async throws {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await reportOnce()
                failures = 0
                Self.accepted.increment()
                let count = state.withLock { state -> Int in
                    state.reports += 1
                    state.lastError = nil
                    return state.reports
                }
                logger.info("agent: credentials reported", metadata: ["cluster": "\(settings.clusterID)", "reports": "\(count)"])
                try await Task.sleep(for: settings.period)
            } catch is CancellationError {
                break
            } catch {
                failures += 1
                Self.failed.increment()
                let description = (error as? AgentError)?.description ?? "\(error)"
                state.withLock { $0.lastError = description }
                logger.error("agent: credential report failed", metadata: ["cluster": "\(settings.clusterID)", "error": "\(description)", "attempt": "\(failures)"])
                let delay = min(settings.backoff.delay(attempt: failures), settings.period)
                do { try await Task.sleep(for: delay) } catch { break }
            }
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}
