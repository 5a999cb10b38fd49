import Foundation
import NIOCore
import NIOPosix
import HTTPTypes
import Testing

@testable import BCSTunnel

/// The handshake checks, as BCS 1.19.x's authorizer makes them, plus the WebSocket parts.
@Suite struct HandshakeTests {
    static let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    func headers(dropping: Set<String> = [], overriding: [String: String] = [:]) -> HTTPFields {
        var values: [String: String] = [
            "Connection": "keep-alive, Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "bcs-tunnel.v1",
            "BCS-API-Tunnel-Module": "kubeagent", "BCS-API-Tunnel-ClusterId": "BCS-K8S-001", "BCS-API-Tunnel-Token": "tok",
            "BCS-API-Tunnel-Params": TunnelParams(address: "https://10.0.0.1:443", caPEM: Self.ca).encoded(),
        ]
        for name in dropping { values[name] = nil }
        values.merge(overriding) { _, new in new }
        var fields = HTTPFields()
        for (name, value) in values { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return fields
    }

    func rejection(_ fields: HTTPFields, method: HTTPRequest.Method = .get) -> TunnelHandshake.Rejection? {
        if case .failure(let rejection) = TunnelHandshake.validate(method: method, headers: fields) { return rejection }
        return nil
    }

    @Test func acceptsBCSHeadersWithEitherModuleName() throws {
        for module in ["kubeagent", "kube-agent"] {
            let result = try TunnelHandshake.validate(method: .get, headers: headers(overriding: ["BCS-API-Tunnel-Module": module])).get()
            #expect(result.clusterID == "BCS-K8S-001" && result.token == "tok" && result.module == module)
            #expect(result.params.address == "https://10.0.0.1:443" && result.params.caPEM == Self.ca)
        }
    }

    @Test func missingBCSHeadersAreBadRequests() {
        for name in ["BCS-API-Tunnel-Module", "BCS-API-Tunnel-ClusterId", "BCS-API-Tunnel-Token", "BCS-API-Tunnel-Params"] {
            let refused = rejection(headers(dropping: [name]))
            #expect(refused?.status == .badRequest && refused?.code == 1_405_061, "without \(name)")
        }
    }

    @Test func badParamsAreBadRequests() {
        let cases = [
            "not base64 !!", Data("not json".utf8).base64EncodedString(),
            TunnelParams(address: "", caPEM: Self.ca).encoded(),
            TunnelParams(address: "https://a", userToken: "", caCert: "eA==").encoded(),
            TunnelParams(address: "https://a", userToken: "x", caCert: "").encoded(),
            TunnelParams(address: "https://a", userToken: "x", caCert: "%%%").encoded(),
        ]
        for params in cases {
            #expect(rejection(headers(overriding: ["BCS-API-Tunnel-Params": params]))?.status == .badRequest, "\(params)")
        }
    }

    @Test func unknownModuleAndOddClusterIDsAreRefused() {
        #expect(rejection(headers(overriding: ["BCS-API-Tunnel-Module": "mesos-driver"]))?.message.contains("unknown client module") == true)
        #expect(rejection(headers(overriding: ["BCS-API-Tunnel-ClusterId": "../x"]))?.status == .badRequest)
    }

    @Test func theWebSocketPartIsChecked() {
        #expect(rejection(headers(dropping: ["Upgrade"])) != nil)
        #expect(rejection(headers(overriding: ["Connection": "keep-alive"])) != nil)
        #expect(rejection(headers(overriding: ["Sec-WebSocket-Version": "8"])) != nil)
        #expect(rejection(headers(overriding: ["Sec-WebSocket-Key": "short"])) != nil)
        #expect(rejection(headers(overriding: ["Sec-WebSocket-Protocol": "chat"])) != nil)
        #expect(rejection(headers(), method: .post) != nil)
    }

    @Test func acceptValueIsRFC6455s() {
        #expect(TunnelHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let request = try! TunnelHandshake.validate(method: .get, headers: headers()).get()
        let response = TunnelHandshake.switchingResponse(for: request)
        #expect(response.status == .switchingProtocols && response.headerFields[.secWebSocketProtocol] == "bcs-tunnel.v1")
        #expect(response.headerFields[.secWebSocketAccept] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(response.headerFields[HTTPField.Name(TunnelProtocol.loopHeader)!] == nil)
    }

    /// The 101 names the gateway's event loop: the same name for the same loop, another for another.
    @Test func theSwitchingResponseNamesTheEventLoop() throws {
        let request = try TunnelHandshake.validate(method: .get, headers: headers()).get()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let (a, b) = (group.next(), group.next())
        #expect(a !== b)
        let name = HTTPField.Name(TunnelProtocol.loopHeader)!
        let named = TunnelHandshake.switchingResponse(for: request, loop: TunnelHandshake.loopName(a))
        #expect(named.headerFields[name] == TunnelHandshake.loopName(a))
        #expect(TunnelHandshake.loopName(a) == TunnelHandshake.loopName(a))
        #expect(TunnelHandshake.loopName(a) != TunnelHandshake.loopName(b))
    }

    @Test func paramsUseBCSsDoubleBase64() throws {
        let params = TunnelParams(address: "https://10.0.0.1:443", caPEM: Self.ca)
        let json = try #require(Data(base64Encoded: params.encoded()))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: String])
        #expect(Set(object.keys) == ["address", "userToken", "caCert"])
        #expect(object["caCert"].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } == Self.ca)
        #expect(object["userToken"] == TunnelParams.inClusterMarker, "the service-account token stays in the cluster")
    }

    @Test func theAgentsRequestPassesTheGatewaysChecks() throws {
        let key = TunnelHandshake.makeKey()
        let text = TunnelHandshake.requestText(host: "gw:8443", clusterID: "BCS-K8S-9", registerToken: "t0k",
                                               params: TunnelParams(address: "https://k:6443", caPEM: Self.ca), key: key)
        #expect(text.hasPrefix("GET /bcsapi/v4/usermanager/v1/websocket/connect HTTP/1.1\r\n") && text.hasSuffix("\r\n\r\n"))
        var fields = HTTPFields()
        for line in text.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            fields.append(HTTPField(name: HTTPField.Name(String(parts[0]))!, value: parts[1].trimmingCharacters(in: .whitespaces)))
        }
        let request = try TunnelHandshake.validate(method: .get, headers: fields).get()
        #expect(request.clusterID == "BCS-K8S-9" && request.token == "t0k" && request.webSocketKey == key)
    }

    @Test func theAgentParsesTheGatewaysAnswer() {
        let (status, fields) = GatewayHandshakeHandler.parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc")
        #expect(status == 101 && fields["upgrade"] == "websocket" && fields["sec-websocket-accept"] == "abc")
        let bytes = Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}".utf8)
        #expect(GatewayHandshakeHandler.headEnd(ByteBuffer(bytes: bytes).readableBytesView) == bytes.count - 6)
    }
}
