import BCSKube
import NIOCore
import Testing

/// The answer framer against hand-written wire bytes, fed whole and split at every byte.
@Suite struct HTTP1ResponseFramerTests {
    /// What the framer reported for `wire`, fed in pieces of `step` bytes (0: all at once).
    private struct Seen: Equatable {
        var status = 0
        var keepAlive = false
        var body = ""
        var ended = false
        var leftover = 0
    }

    private func run(_ wire: String, mode: HTTP1ResponseFramer.Mode, step: Int = 0, toHEAD: Bool = false) throws -> Seen {
        var framer = HTTP1ResponseFramer()
        framer.expectAnswer(mode: mode, toHEAD: toHEAD)
        var seen = Seen()
        let bytes = Array(wire.utf8)
        var pending = ByteBuffer()
        var offset = 0
        repeat {
            let end = step == 0 ? bytes.count : min(bytes.count, offset + step)
            pending.writeBytes(bytes[offset..<end])
            offset = end
            try framer.parse(&pending) { event in
                switch event {
                case .head(let head):
                    seen.status = head.status
                    seen.keepAlive = head.keepAlive
                case .body(let body): seen.body += String(buffer: body)
                case .end: seen.ended = true
                }
            }
        } while offset < bytes.count && !seen.ended
        seen.leftover = pending.readableBytes + bytes.count - offset
        return seen
    }

    private func everySplit(_ wire: String, mode: HTTP1ResponseFramer.Mode, toHEAD: Bool = false) throws -> Seen {
        let whole = try run(wire, mode: mode, toHEAD: toHEAD)
        for step in 1...7 { #expect(try run(wire, mode: mode, step: step, toHEAD: toHEAD) == whole, "split every \(step) bytes") }
        return whole
    }

    @Test func aLengthFramedAnswerEndsAtItsLength() throws {
        let wire = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n"
        for mode in [HTTP1ResponseFramer.Mode.wire, .payload] {
            let seen = try everySplit(wire, mode: mode)
            #expect(seen == Seen(status: 200, keepAlive: true, body: "hello", ended: true, leftover: 17))
        }
    }

    @Test func aChunkedAnswerIsPassedAsWireBytesOrAsPayload() throws {
        let body = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n"
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        #expect(try everySplit(wire, mode: .wire) == Seen(status: 200, keepAlive: true, body: body, ended: true))
        #expect(try everySplit(wire, mode: .payload) == Seen(status: 200, keepAlive: true, body: "helloabcdefghijklmnopqrstuvwxyz", ended: true))
    }

    @Test func answersWithoutABodyEndAtTheirHead() throws {
        for status in ["204 No Content", "304 Not Modified"] {
            #expect(try everySplit("HTTP/1.1 \(status)\r\nContent-Length: 9\r\n\r\n", mode: .wire).ended)
        }
        let head = try everySplit("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", mode: .payload, toHEAD: true)
        #expect(head == Seen(status: 200, keepAlive: true, body: "", ended: true))
        #expect(try everySplit("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", mode: .wire).ended)
    }

    @Test func interimAnswersAreSkipped() throws {
        let seen = try everySplit("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", mode: .wire)
        #expect(seen == Seen(status: 201, keepAlive: true, body: "ok", ended: true))
    }

    @Test func keepAliveFollowsVersionAndConnection() throws {
        #expect(try run("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", mode: .wire).keepAlive == false)
        #expect(try run("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", mode: .wire).keepAlive == false)
        #expect(try run("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", mode: .wire).keepAlive == true)
        // A length and a coding at once: the coding frames it, and the connection is not reused.
        let both = try run("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", mode: .wire)
        #expect(both.ended && !both.keepAlive)
    }

    @Test func anAnswerWithoutLengthEndsWhenTheConnectionCloses() throws {
        var framer = HTTP1ResponseFramer()
        framer.expectAnswer(mode: .wire)
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\nsome bytes")
        var body = ""
        var keepAlive = true
        try framer.parse(&buffer) { event in
            if case .head(let head) = event { keepAlive = head.keepAlive }
            if case .body(let part) = event { body += String(buffer: part) }
        }
        #expect(body == "some bytes" && !keepAlive)
        let closedTheAnswer = framer.connectionClosed()
        #expect(closedTheAnswer)
        #expect(!framer.isBusy)
    }

    @Test func malformedAnswersAreRefused() {
        let bad = [
            "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",  // bare LF
            "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",  // space before the colon
            "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",  // obsolete line folding
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // two lengths
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",  // not asked for
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  // not a chunk size
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",  // no CRLF after the data
            "HTTP/1.1 200 OK\r\nX: a\u{01}b\r\n\r\n",  // a control byte in a value
        ]
        for wire in bad {
            #expect(throws: HTTP1Head.Failure.self, "\(wire.debugDescription)") { try run(wire, mode: .wire) }
        }
    }

    @Test func aHeadOverTheLimitIsRefusedBeforeItEnds() {
        var framer = HTTP1ResponseFramer()
        framer.expectAnswer(mode: .wire)
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 70_000))
        #expect(throws: HTTP1Head.Failure.tooLarge) { try framer.parse(&buffer) { _ in } }
    }

    @Test func headFieldsAreFoundInPlace() throws {
        var buffer = ByteBuffer(string: "GET /a?b HTTP/1.1\r\nHost: x\r\nAuthorization:  Bearer t  \r\nEmpty:\r\n\r\nrest")
        var scanned = 0
        let head = try #require(try HTTP1Head.read(from: &buffer, scanned: &scanned, limit: 1024))
        #expect(head.string(head.first) == "GET" && head.string(head.second) == "/a?b" && head.string(head.third) == "HTTP/1.1")
        #expect(head.fields.map { head.string($0.name) } == ["Host", "Authorization", "Empty"])
        #expect(head.fields.map { head.string($0.value) } == ["x", "Bearer t", ""])
        #expect(head.equalsIgnoringCase(head.fields[1].name, "authorization"))
        let names = HeaderNameSet(["authorization", "host", "keep-alive"])
        #expect(head.fields.map { names.contains(head, $0.name) } == [true, true, false])
        #expect(String(buffer: buffer) == "rest")
        // Incomplete: nothing taken, and the scan resumes where it stopped.
        var partial = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n")
        #expect(try HTTP1Head.read(from: &partial, scanned: &scanned, limit: 1024) == nil)
        #expect(scanned == partial.readableBytes)
        partial.writeString("\r\n")
        #expect(try HTTP1Head.read(from: &partial, scanned: &scanned, limit: 1024) != nil)
    }
}

/// Generated answers, split at random points, and random bytes: the framer recovers every body
/// exactly and never traps on garbage.
@Suite struct HTTP1ResponseFramerGeneratedTests {
    /// A small deterministic generator (SplitMix64), so a failure can be replayed.
    private struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func generatedAnswersComeOutWhole() throws {
        var random = Generator(state: 42)
        for round in 0..<300 {
            let payload = (0..<Int.random(in: 0...3000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let chunked = Bool.random(using: &random)
            var wire = Array("HTTP/1.1 200 OK\r\nX-Round: \(round)\r\n".utf8)
            var body: [UInt8] = []
            if chunked {
                wire += Array("Transfer-Encoding: chunked\r\n\r\n".utf8)
                var rest = payload[...]
                while !rest.isEmpty {
                    let size = min(rest.count, Int.random(in: 1...700, using: &random))
                    body += Array("\(String(size, radix: 16))\(Bool.random(using: &random) ? ";x=y" : "")\r\n".utf8) + rest.prefix(size) + Array("\r\n".utf8)
                    rest = rest.dropFirst(size)
                }
                body += Array("0\r\n\r\n".utf8)
            } else {
                wire += Array("Content-Length: \(payload.count)\r\n\r\n".utf8)
                body = payload
            }
            wire += body
            for mode in [HTTP1ResponseFramer.Mode.wire, .payload] {
                var framer = HTTP1ResponseFramer()
                framer.expectAnswer(mode: mode)
                var received: [UInt8] = []
                var ended = false
                var pending = ByteBuffer()
                var offset = 0
                while offset < wire.count, !ended {
                    let step = min(wire.count - offset, Int.random(in: 1...900, using: &random))
                    pending.writeBytes(wire[offset..<(offset + step)])
                    offset += step
                    try framer.parse(&pending) { event in
                        switch event {
                        case .body(let part): received += Array(part.readableBytesView)
                        case .end: ended = true
                        case .head: break
                        }
                    }
                }
                #expect(ended && pending.readableBytes == 0 && offset == wire.count, "round \(round) \(mode)")
                #expect(received == (mode == .wire ? body : payload), "round \(round) \(mode)")
            }
        }
    }

    @Test func garbageNeverTraps() {
        var random = Generator(state: 7)
        let alphabet = Array("HTTP/1.1 200 OK\r\n:;0123456789abcdefxX-Length Transfer-Encoding chunked\t \u{0}\u{7f}".utf8)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...200, using: &random)).map { _ in
                Bool.random(using: &random) ? alphabet.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
            }
            var framer = HTTP1ResponseFramer()
            framer.expectAnswer(mode: Bool.random(using: &random) ? .wire : .payload)
            var buffer = ByteBuffer(bytes: Array("HTTP/1.1 200 OK\r\n".utf8) + bytes)
            _ = try? framer.parse(&buffer) { _ in }
            var scanned = 0
            var head = ByteBuffer(bytes: bytes)
            _ = try? HTTP1Head.read(from: &head, scanned: &scanned, limit: 100)
        }
    }
}
