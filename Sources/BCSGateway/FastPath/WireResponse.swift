import BCSKube
import NIOCore

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

    private static func slice(_ head: HTTP1Head, _ range: Range<Int>) -> ByteBuffer {
        head.bytes.getSlice(at: head.bytes.readerIndex + range.lowerBound, length: range.count)!
    }

    /// `KubeProxy.isReplacedResponseHeader` on bytes, less `Transfer-Encoding` (see above).
    private static func isDropped(_ head: HTTP1Head, _ name: Range<Int>) -> Bool {
        switch name.count {
        case 2: return head.equalsIgnoringCase(name, "te")
        case 6: return head.equalsIgnoringCase(name, "server")
        case 7: return head.equalsIgnoringCase(name, "trailer") || head.equalsIgnoringCase(name, "upgrade")
        case 10: return head.equalsIgnoringCase(name, "connection") || head.equalsIgnoringCase(name, "keep-alive")
        case 16: return head.equalsIgnoringCase(name, "proxy-connection")
        default: return false
        }
    }
}
