import Crypto
import Foundation
import HTTPTypes
import NIOCore

/// The tunnel's opening handshake: what the agent sends, what the gateway checks, what it answers.
///
/// It is an ordinary WebSocket upgrade (RFC 6455 §4) so every proxy that passes WebSockets passes
/// it, carrying BCS's `BCS-API-Tunnel-*` headers. The checks follow BCS 1.19.x's authorizer: the
/// module, cluster ID and token must be present, the Params must decode to `{address, userToken,
/// caCert}` with all three non-empty for the agent module. Only then is the register token
/// checked (by the caller, through `RegisterTokenVerifier`).
public enum TunnelHandshake {
    /// A handshake that passed the header checks; the register token is still to be verified.
    public struct Request: Sendable, Equatable {
        public var module: String
        public var clusterID: String
        public var token: String
        public var params: TunnelParams
        public var webSocketKey: String
    }

    /// Why a handshake is refused, with the HTTP status and BCS code of the answer.
    public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        public var status: HTTPResponse.Status
        public var code: Int
        public var message: String
        public var description: String { "\(status.code) \(code): \(message)" }

        /// BCS's user-manager codes (`bcs-common/common/errorCode.go`): bad request, unauthorised.
        public static func badRequest(_ message: String) -> Rejection { Rejection(status: .badRequest, code: 1_405_061, message: message) }
        public static func unauthorized(_ message: String) -> Rejection { Rejection(status: .unauthorized, code: 1_405_059, message: message) }
    }

    static let webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Checks the headers of a connect request (everything but the register token itself).
    public static func validate(method: HTTPRequest.Method, headers: HTTPFields) -> Result<Request, Rejection> {
        func value(_ name: String) -> String? {
            guard let field = HTTPField.Name(name), let text = headers[field]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        func tokens(_ name: HTTPField.Name) -> [String] {
            headers[values: name].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        }
        guard method == .get else { return .failure(.badRequest("the tunnel handshake must be a GET")) }
        guard tokens(.upgrade).contains("websocket"), tokens(.connection).contains("upgrade") else {
            return .failure(.badRequest("the tunnel handshake must be a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)"))
        }
        guard value("Sec-WebSocket-Version") == "13" else { return .failure(.badRequest("Sec-WebSocket-Version must be 13")) }
        guard let key = value("Sec-WebSocket-Key"), Data(base64Encoded: key)?.count == 16 else {
            return .failure(.badRequest("Sec-WebSocket-Key must be base64 of 16 bytes"))
        }
        let offered = tokens(.secWebSocketProtocol)
        guard offered.contains(TunnelProtocol.subprotocol) else {
            return .failure(.badRequest("the tunnel needs the WebSocket subprotocol \(TunnelProtocol.subprotocol)"))
        }
        guard let module = value(TunnelProtocol.moduleHeader), let clusterID = value(TunnelProtocol.clusterIDHeader),
              let token = value(TunnelProtocol.tokenHeader)
        else {
            return .failure(.badRequest("the headers \(TunnelProtocol.moduleHeader), \(TunnelProtocol.clusterIDHeader) and \(TunnelProtocol.tokenHeader) are required"))
        }
        guard TunnelProtocol.agentModules.contains(module) else { return .failure(.badRequest("unknown client module \(module)")) }
        guard clusterID.utf8.count <= 128, clusterID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) else {
            return .failure(.badRequest("invalid cluster id"))
        }
        guard let rawParams = value(TunnelProtocol.paramsHeader), let params = TunnelParams.decode(rawParams) else {
            return .failure(.badRequest("\(TunnelProtocol.paramsHeader) must be base64 of JSON {address, userToken, caCert}"))
        }
        guard !params.address.isEmpty else { return .failure(.badRequest("the tunnel params have an empty address")) }
        guard !params.caCert.isEmpty, !params.userToken.isEmpty else {
            return .failure(.badRequest("the tunnel params of a kube-agent need caCert and userToken"))
        }
        guard params.caPEM != nil else { return .failure(.badRequest("the tunnel params' caCert is not base64")) }
        return .success(Request(module: module, clusterID: clusterID, token: token, params: params, webSocketKey: key))
    }

    /// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
    public static func acceptValue(forKey key: String) -> String {
        Data(Insecure.SHA1.hash(data: Data((key + webSocketGUID).utf8))).base64EncodedString()
    }

    /// The gateway's `101 Switching Protocols` for an accepted handshake; `loop` names the event
    /// loop that will serve the session (`TunnelProtocol.loopHeader`).
    public static func switchingResponse(for request: Request, loop: String? = nil) -> HTTPResponse {
        var fields = HTTPFields()
        if let loop, let name = HTTPField.Name(TunnelProtocol.loopHeader) { fields[name] = loop }
        fields[.connection] = "Upgrade"
        fields[.upgrade] = "websocket"
        fields[.secWebSocketAccept] = acceptValue(forKey: request.webSocketKey)
        fields[.secWebSocketProtocol] = TunnelProtocol.subprotocol
        return HTTPResponse(status: .switchingProtocols, headerFields: fields)
    }

    /// The name of `loop` in a 101: the same for every connection it serves in this process, and
    /// nothing about the process (a seeded hash, not an address).
    public static func loopName(_ loop: any EventLoop) -> String {
        String(UInt(bitPattern: ObjectIdentifier(loop).hashValue), radix: 36)
    }

    /// A fresh `Sec-WebSocket-Key` (16 random bytes, base64).
    public static func makeKey() -> String {
        Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    /// The agent's request head, as HTTP/1.1 text, for `host` (with port) and the given credentials.
    public static func requestText(host: String, path: String = TunnelProtocol.connectPath, clusterID: String, registerToken: String,
                                   params: TunnelParams, key: String, module: String = "kubeagent") -> String {
        [
            "GET \(path) HTTP/1.1",
            "Host: \(host)",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: \(key)",
            "Sec-WebSocket-Protocol: \(TunnelProtocol.subprotocol)",
            "User-Agent: bcs-kube-agent",
            "\(TunnelProtocol.moduleHeader): \(module)",
            "\(TunnelProtocol.clusterIDHeader): \(clusterID)",
            "\(TunnelProtocol.tokenHeader): \(registerToken)",
            "\(TunnelProtocol.paramsHeader): \(params.encoded())",
            "", "",
        ].joined(separator: "\r\n")
    }
}
