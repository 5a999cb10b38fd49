import BCSKube
import NIOCore
import NIOHTTP1

/// The apiserver's answer head as the gateway relays it to an HTTP/1.1 client in wire form.
enum WireResponse {
    /// The head with the status line kept (as HTTP/1.1), the hop-by-hop fields dropped, the
    /// gateway's `Server` and, for an answer that ends with its connection, `Connection: close`.
    /// `Transfer-Encoding` stays: the body's chunks pass as they came.
    static func relayedHead(_ head: HTTP1ResponseHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        let source = head.head
        var bytes = allocator.buffer(capacity: source.bytes.readableBytes + 32)
        bytes.writeStaticString("HTTP/1.1 ")
        bytes.writeImmutableBuffer(slice(source, source.second))
        bytes.writeStaticString(" ")
        bytes.writeImmutableBuffer(slice(source, source.third))
        bytes.writeStaticString("\r\n")
        for field in source.fields where !isDropped(source, field.name) {
            bytes.writeImmutableBuffer(slice(source, source.line(of: field)))
            bytes.writeStaticString("\r\n")
        }
        bytes.writeStaticString("Server: ")
        bytes.writeString(KubeProxy.serverName)
        bytes.writeStaticString(head.endsAtClose ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n")
        return bytes
    }

    /// A head that arrived in parts (an agent tunnel's answer), in wire form; its body follows
    /// chunked unless the head gives a length (or the status allows no body).
    static func head(_ head: HTTPResponseHead, allocator: ByteBufferAllocator) -> (bytes: ByteBuffer, chunked: Bool) {
        var headers = KubeProxy.relayedHeaders(http1: head.headers)
        let code = Int(head.status.code)
        let chunked = code != 204 && code != 304 && !headers.contains(name: "content-length")
        if chunked { headers.add(name: "Transfer-Encoding", value: "chunked") }
        var bytes = allocator.buffer(capacity: 256)
        bytes.writeString("HTTP/1.1 \(code) \(head.status.reasonPhrase)\r\n")
        for (name, value) in headers {
            bytes.writeString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        bytes.writeStaticString("\r\n")
        return (bytes, chunked)
    }

    /// The size line of a chunk of `size` bytes (never 0: that would end the body).
    static func chunkHeader(size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var bytes = allocator.buffer(capacity: 18)
        bytes.writeString(String(size, radix: 16))
        bytes.writeStaticString("\r\n")
        return bytes
    }

    static let crlf = ByteBuffer(string: "\r\n")
    static let lastChunk = ByteBuffer(string: "0\r\n\r\n")

    private static func slice(_ head: HTTP1Head, _ range: Range<Int>) -> ByteBuffer {
        head.bytes.getSlice(at: head.bytes.readerIndex + range.lowerBound, length: range.count)!
    }

    /// The fields `KubeProxy.isReplacedResponseHeader` names, less `Transfer-Encoding` (see above),
    /// looked up on bytes.
    private static let droppedFields = HeaderNameSet(KubeProxy.droppedResponseHeaders.subtracting(["transfer-encoding"]).union(["server"]))

    private static func isDropped(_ head: HTTP1Head, _ name: Range<Int>) -> Bool {
        droppedFields.contains(head, name)
    }
}
