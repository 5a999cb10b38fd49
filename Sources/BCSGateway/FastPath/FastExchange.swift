import BCSKube
import BCSTunnel
import HTTPTypes
import NIOCore

/// The state of one request `FastProxyHandler` carries, and where its answer comes from.
extension FastProxyHandler {
    /// A class, not a struct: it is read on every callback of an exchange, and copying a struct of
    /// this many references cost a retain and a release for each of them every time.
    final class Exchange {
        let id: Int
        let plan: FastPath.Plan
        /// The request as it arrived, for the ordinary path should the fast one give it back.
        let request: ClientRequest
        var requestEnded = false
        var upstream: Upstream?
        var reused = false
        var retried = false
        /// The upstream's status, once its head went to the client.
        var status: Int?
        var keepAlive = true
        var responseEnded = false
        var bytes = 0
        var waitingForWritability = false
        /// The answer ends when the apiserver closes the connection: so must the client's.
        var endsAtClose = false
        /// A wire answer that arrived in parts (through a tunnel) goes to the client in chunks.
        var chunkedOut = false
        /// When the apiserver's answer must have begun (`responseTimeout`).
        let deadline: NIODeadline

        /// Whether the answer goes to the client as wire bytes (`HTTP1WireLane`).
        var isWire: Bool {
            if case .wire = request { return true }
            return false
        }

        init(id: Int, plan: FastPath.Plan, request: ClientRequest, deadline: NIODeadline) {
            self.id = id
            self.plan = plan
            self.request = request
            self.deadline = deadline
        }
    }

    /// A request the fast path took: parsed, or its head's bytes from `HTTP1WireLane`.
    enum ClientRequest {
        case parts(HTTPRequest)
        case wire(ByteBuffer)
    }

    /// Where a fast exchange's answer comes from.
    enum Upstream {
        /// A pooled keep-alive connection to the apiserver (direct mode).
        case pooled(UpstreamConnection)
        /// A stream of the cluster's agent tunnel.
        case tunnel(TunnelRelayStream)

        /// Asks for more of the answer.
        func read() {
            switch self {
            case .pooled(let connection): connection.channel.read()
            case .tunnel(let stream): stream.read()
            }
        }

        /// Stops the answer: nothing more is delivered, and the connection or stream is closed.
        func abandon() {
            switch self {
            case .pooled(let connection):
                connection.exchange.abandon()
                connection.channel.close(promise: nil)
            case .tunnel(let stream):
                stream.abandon()
            }
        }
    }
}
