import NIOCore
import NIOHTTP1

/// An apiserver's answer head, as parsed by `HTTP1ResponseFramer`.
public struct HTTP1ResponseHead {
    public let head: HTTP1Head
    public let status: Int
    /// Whether the connection can carry another request once this answer has ended.
    public let keepAlive: Bool
    /// Whether the body ends only when the connection closes (no length, not chunked).
    public let endsAtClose: Bool

    /// As NIO's head type, for a receiver that takes the answer in parts.
    public var nioHead: HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.fields.count)
        for field in head.fields { headers.add(name: head.string(field.name), value: head.string(field.value)) }
        let version: HTTPVersion = head.equalsIgnoringCase(head.first, "http/1.0") ? .http1_0 : .http1_1
        return HTTPResponseHead(version: version, status: .init(statusCode: status, reasonPhrase: head.string(head.third)), headers: headers)
    }
}

/// Follows the answers on a keep-alive HTTP/1.1 connection: where each head ends, how its body is
/// framed (RFC 9112 §6.3), and where it ends — and hands the body on either as it was on the wire
/// (`.wire`: chunk framing included, for a relay to an HTTP/1.1 client, which needs no re-framing)
/// or as its payload (`.payload`: for a relay into an HTTP/2 stream).
///
/// A value-type state machine: the connection's handler feeds it bytes and acts on its events.
public struct HTTP1ResponseFramer {
    public enum Event {
        case head(HTTP1ResponseHead)
        case body(ByteBuffer)
        case end
    }

    public enum Mode {
        case wire
        case payload
    }

    private enum State {
        /// No request outstanding: bytes now are unasked for.
        case idle
        case head
        case length(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(seen: Int)
        case untilClose
    }

    /// Longest answer head accepted (an apiserver's are under 1 KiB).
    static let headLimit = 64 * 1024
    /// Longest chunk-size line (with extensions) and trailer section accepted.
    static let lineLimit = 4 * 1024
    static let trailerLimit = 16 * 1024

    private var state = State.idle
    private var scanned = 0
    private var mode = Mode.payload
    private var bodiless = false

    public init() {}

    /// Whether an answer is expected or under way.
    public var isBusy: Bool {
        if case .idle = state { return false }
        return true
    }

    /// A request went out: its answer comes next. A `HEAD` request's answer has no body.
    public mutating func expectAnswer(mode: Mode, toHEAD: Bool = false) {
        state = .head
        scanned = 0
        self.mode = mode
        bodiless = toHEAD
    }

    /// Follows a chunked body alone (a request's), from its first chunk-size line, as wire bytes.
    public mutating func expectChunkedBody() {
        state = .chunkSize
        mode = .wire
    }

    /// Stops following the current answer (its exchange was abandoned).
    public mutating func reset() {
        state = .idle
        scanned = 0
    }

    /// The connection closed: whether that ended the answer (one framed by the close).
    public mutating func connectionClosed() -> Bool {
        guard case .untilClose = state else { return false }
        state = .idle
        return true
    }

    /// Consumes what it can of `buffer` for the current answer and reports it. Stops after the
    /// answer's end: bytes left after it are not part of any answer asked for.
    public mutating func parse(_ buffer: inout ByteBuffer, _ emit: (Event) -> Void) throws(HTTP1Head.Failure) {
        while true {
            switch state {
            case .idle:
                return
            case .head:
                guard let head = try HTTP1Head.read(from: &buffer, scanned: &scanned, limit: Self.headLimit) else { return }
                guard let framed = try frame(head) else { continue }  // an interim 1xx answer: the real one follows
                emit(.head(framed))
                if case .idle = state {
                    emit(.end)
                    return
                }
            case .length(let remaining):
                guard buffer.readableBytes > 0 else { return }
                let taken = min(remaining, buffer.readableBytes)
                emit(.body(buffer.readSlice(length: taken)!))
                if taken == remaining {
                    state = .idle
                    emit(.end)
                    return
                }
                state = .length(remaining: remaining - taken)
                return
            case .untilClose:
                if buffer.readableBytes > 0 { emit(.body(buffer.readSlice(length: buffer.readableBytes)!)) }
                return
            case .chunkSize, .chunkData, .chunkDataEnd, .trailers:
                var pieces: [Range<Int>] = []
                let collect = mode == .payload
                let walked = buffer.withUnsafeReadableBytes { walkChunked($0, collect: collect, pieces: &pieces) }
                guard let walked else { throw .malformed }
                if collect {
                    for piece in pieces { emit(.body(buffer.getSlice(at: buffer.readerIndex + piece.lowerBound, length: piece.count)!)) }
                    buffer.moveReaderIndex(forwardBy: walked.used)
                } else if walked.used > 0 {
                    emit(.body(buffer.readSlice(length: walked.used)!))
                }
                if walked.ended {
                    state = .idle
                    emit(.end)
                }
                return
            }
        }
    }

    /// The head's framing, setting the body's state; nil for an interim (1xx) answer.
    private mutating func frame(_ head: HTTP1Head) throws(HTTP1Head.Failure) -> HTTP1ResponseHead? {
        let http11 = head.equalsIgnoringCase(head.first, "http/1.1")
        guard http11 || head.equalsIgnoringCase(head.first, "http/1.0"), head.second.count == 3,
              let status = head.decimal(head.second), (100...599).contains(status)
        else { throw .malformed }
        if status < 200 {
            // 100 Continue, 103 Early Hints: skipped. A 101 switches protocols, which was not asked.
            guard status != 101 else { throw .malformed }
            return nil
        }
        guard let (length, transferEncoding) = head.bodyFraming() else { throw .malformed }
        var close = false
        var keepAliveToken = false
        for field in head.fields where field.name.count == 10 && head.equalsIgnoringCase(field.name, "connection") {
            close = close || head.listContains(field.value, "close")
            keepAliveToken = keepAliveToken || head.listContains(field.value, "keep-alive")
        }
        var keepAlive = http11 ? !close : (keepAliveToken && !close)
        var endsAtClose = false
        if bodiless || status == 204 || status == 304 {
            state = .idle
        } else if let transferEncoding {
            // Both a length and a coding: the coding rules, and the connection is not trusted after.
            if length != nil { keepAlive = false }
            if Self.endsWithChunked(head, transferEncoding) {
                state = .chunkSize
            } else {
                state = .untilClose
                endsAtClose = true
            }
        } else if let length {
            state = length == 0 ? .idle : .length(remaining: length)
        } else {
            state = .untilClose
            endsAtClose = true
        }
        if endsAtClose { keepAlive = false }
        return HTTP1ResponseHead(head: head, status: status, keepAlive: keepAlive, endsAtClose: endsAtClose)
    }

    /// Whether the last coding of a `Transfer-Encoding` list is `chunked`.
    private static func endsWithChunked(_ head: HTTP1Head, _ value: Range<Int>) -> Bool {
        let lastComma = head.bytes.withUnsafeReadableBytes { bytes in value.last { bytes[$0] == UInt8(ascii: ",") } }
        var start = (lastComma ?? (value.lowerBound - 1)) + 1
        head.bytes.withUnsafeReadableBytes { bytes in
            while start < value.upperBound, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        }
        return head.equalsIgnoringCase(start..<value.upperBound, "chunked")
    }

    /// Walks chunked framing from the front of `bytes`: how many belong to the body so far and
    /// whether it ended (nil: malformed). Stops before an incomplete line. With `collect`, the
    /// chunks' data go to `pieces`.
    private mutating func walkChunked(_ bytes: UnsafeRawBufferPointer, collect: Bool, pieces: inout [Range<Int>]) -> (used: Int, ended: Bool)? {
        var index = 0
        while index < bytes.count {
            switch state {
            case .chunkSize:
                guard let end = Self.lineEnd(bytes, from: index) else {
                    return bytes.count - index > Self.lineLimit ? nil : (index, false)
                }
                guard end - index <= Self.lineLimit, let size = Self.chunkSize(bytes, index..<end) else { return nil }
                index = end + 2
                state = size == 0 ? .trailers(seen: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let taken = min(remaining, bytes.count - index)
                if collect { pieces.append(index..<(index + taken)) }
                index += taken
                state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)
            case .chunkDataEnd:
                guard bytes.count - index >= 2 else { return (index, false) }
                guard bytes[index] == 0x0D, bytes[index + 1] == 0x0A else { return nil }
                index += 2
                state = .chunkSize
            case .trailers(let seen):
                guard let end = Self.lineEnd(bytes, from: index) else {
                    return seen + bytes.count - index > Self.trailerLimit ? nil : (index, false)
                }
                if end == index { return (index + 2, true) }
                guard seen + end - index <= Self.trailerLimit else { return nil }
                for byte in index..<end where (bytes[byte] < 0x20 && bytes[byte] != 0x09) || bytes[byte] == 0x7F { return nil }
                state = .trailers(seen: seen + end + 2 - index)
                index = end + 2
            default:
                return nil
            }
        }
        return (index, false)
    }

    /// The CR of the CRLF ending the line at `from`, if it has arrived; a bare LF is malformed,
    /// which the caller's parse of the line then refuses.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var index = from
        while index + 1 < bytes.count {
            if bytes[index] == 0x0D, bytes[index + 1] == 0x0A { return index }
            index += 1
        }
        return nil
    }

    /// A chunk-size line's size: hex digits, then optional whitespace and `;` extensions.
    private static func chunkSize(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) -> Int? {
        var size = 0
        var index = line.lowerBound
        while index < line.upperBound, let digit = hexValue(bytes[index]) {
            guard index - line.lowerBound < 15 else { return nil }
            size = size << 4 | digit
            index += 1
        }
        guard index > line.lowerBound else { return nil }
        while index < line.upperBound, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
        guard index == line.upperBound || bytes[index] == UInt8(ascii: ";") else { return nil }
        for rest in index..<line.upperBound where bytes[rest] < 0x20 && bytes[rest] != 0x09 { return nil }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
