import BCSKube
import HTTPTypes
import NIOCore
import NIOHPACK
import NIOHTTP1
import Testing

@testable import BCSTunnel

/// What crosses into an HTTP/2 header block and what does not.
@Suite struct TunnelHeadersTests {
    @Test func requestsLoseHopByHopFieldsAndAuthorization() throws {
        var head = HTTPRequest(method: .get, scheme: "https", authority: "gw", path: "/api/v1/pods?watch=1")
        head.headerFields[.authorization] = "Bearer user-token"
        head.headerFields[.connection] = "keep-alive, X-Private"
        head.headerFields[HTTPField.Name("X-Private")!] = "1"
        head.headerFields[.transferEncoding] = "chunked"
        head.headerFields[.accept] = "application/json;as=Table;v=v1;g=meta.k8s.io"
        head.headerFields[HTTPField.Name("Impersonate-User")!] = "alice"
        let block = TunnelHeaders.requestBlock(head, upgrade: nil)
        #expect(block.first(name: ":path") == "/api/v1/pods?watch=1" && block.first(name: ":method") == "GET")
        #expect(block.first(name: "authorization") == nil && block.first(name: "connection") == nil && block.first(name: "x-private") == nil)
        #expect(block.first(name: "transfer-encoding") == nil)
        #expect(block.first(name: "accept") == "application/json;as=Table;v=v1;g=meta.k8s.io" && block.first(name: "impersonate-user") == "alice")
        let received = try #require(TunnelHeaders.receivedRequest(block))
        #expect(received.path == "/api/v1/pods?watch=1" && received.upgrade == nil)
    }

    @Test func upgradesTravelAsATunnelHeader() throws {
        var head = HTTPRequest(method: .get, scheme: "https", authority: "gw", path: "/api/v1/namespaces/default/pods/p/exec?command=sh")
        head.headerFields[.upgrade] = "websocket"
        head.headerFields[.connection] = "Upgrade"
        head.headerFields[.secWebSocketProtocol] = "v5.channel.k8s.io"
        let block = TunnelHeaders.requestBlock(head, upgrade: "websocket")
        #expect(block.first(name: "upgrade") == nil && block.first(name: "bcs-tunnel-upgrade") == "websocket")
        #expect(block.first(name: "sec-websocket-protocol") == "v5.channel.k8s.io")
        #expect(try #require(TunnelHeaders.receivedRequest(block)).upgrade == "websocket")
    }

    @Test func responsesKeepTheirFieldsButNotConnectionOnes() throws {
        let block = TunnelHeaders.responseBlock(status: 200, fields: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked"),
                                                                       ("Warning", "299 - deprecated"), ("Connection", "close")])
        let response = try #require(TunnelHeaders.response(block))
        #expect(response.status.code == 200 && response.headerFields[.contentType] == "application/json")
        #expect(response.headerFields[HTTPField.Name("Warning")!] == "299 - deprecated" && response.headerFields[.transferEncoding] == nil)
        #expect(TunnelHeaders.response(HPACKHeaders([("content-type", "x")])) == nil)

        // Fields a `Connection` header names are hop-by-hop too, whatever their spacing and case;
        // names go out in lower case (HTTP/2 requires it).
        let listed = TunnelHeaders.responseBlock(status: 200, fields: [("connection", " Keep-Alive ,\tX-Hop ,, "), ("X-Hop", "1"),
                                                                        ("x-kept", "2"), ("Keep-Alive", "timeout=5")])
        #expect(listed.first(name: "x-hop") == nil && listed.first(name: "keep-alive") == nil && listed.first(name: "connection") == nil)
        #expect(listed.first(name: "x-kept") == "2" && listed.count == 2)
    }

    /// The agent makes the block straight from the parsed answer; it must equal the one made from fields.
    @Test func aParsedAnswerGivesTheSameBlockAsItsFields() throws {
        let wire = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
            + "Warning: 299 - \"deprecated\"\r\nbcs-tunnel-status: 101\r\nTransfer-Encoding: chunked\r\nAudit-ID: abc\r\n\r\n"
        var buffer = ByteBuffer(string: wire)
        var framer = HTTP1ResponseFramer()
        framer.expectAnswer(mode: .payload)
        var parsed: HTTP1ResponseHead?
        try framer.parse(&buffer) { event in
            if case .head(let head) = event { parsed = head }
        }
        let answer = try #require(parsed)
        let fromFields = TunnelHeaders.responseBlock(status: 201, fields: answer.nioHead.headers.map { ($0.name, $0.value) })
        let direct = TunnelHeaders.responseBlock(answer)
        #expect(Array(direct.map { "\($0.name): \($0.value)" }) == Array(fromFields.map { "\($0.name): \($0.value)" }))
        #expect(direct.first(name: ":status") == "201" && direct.first(name: "audit-id") == "abc")
        #expect(direct.first(name: "x-hop") == nil && direct.first(name: "bcs-tunnel-status") == nil && direct.first(name: "transfer-encoding") == nil)
    }
}
