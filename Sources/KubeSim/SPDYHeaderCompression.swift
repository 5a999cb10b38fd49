import CZlib

/// One direction of a SPDY/3 session's header compression: a zlib stream that lives as long as the connection.
///
/// SPDY/3 compresses every header block of a direction as one continuous zlib stream with the
/// SPDY dictionary preset, each block ending in a sync flush (kubectl-wire.md §6.2), so the
/// compressor and decompressor keep their state between frames. Not thread-safe: each instance
/// belongs to one reader or sits behind the connection's lock.
final class SPDYHeaderCompression {
    enum Direction { case inflate, deflate }

    struct Failure: Error, CustomStringConvertible { let description: String }

    private let direction: Direction
    private let stream: UnsafeMutablePointer<z_stream>

    init(_ direction: Direction) {
        self.direction = direction
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let size = Int32(MemoryLayout<z_stream>.size)
        switch direction {
        case .inflate:
            _ = inflateInit_(stream, zlibVersion(), size)
        case .deflate:
            _ = deflateInit_(stream, Z_DEFAULT_COMPRESSION, zlibVersion(), size)
            _ = SPDYDictionary.bytes.withUnsafeBufferPointer { deflateSetDictionary(stream, $0.baseAddress, UInt32($0.count)) }
        }
    }

    deinit {
        switch direction {
        case .inflate: inflateEnd(stream)
        case .deflate: deflateEnd(stream)
        }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Runs `input` through the stream with a sync flush and returns everything it produced.
    func process(_ input: some Collection<UInt8>) throws(Failure) -> [UInt8] {
        var input = Array(input)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let stream = self.stream
        let direction = self.direction
        let failure: Failure? = input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.pointee.next_in = inputBuffer.baseAddress
            stream.pointee.avail_in = UInt32(inputBuffer.count)
            while true {
                let (code, produced) = chunk.withUnsafeMutableBufferPointer { outputBuffer in
                    stream.pointee.next_out = outputBuffer.baseAddress
                    stream.pointee.avail_out = UInt32(outputBuffer.count)
                    var code: Int32
                    switch direction {
                    case .deflate:
                        code = deflate(stream, Z_SYNC_FLUSH)
                    case .inflate:
                        code = inflate(stream, Z_SYNC_FLUSH)
                        if code == Z_NEED_DICT {
                            code = SPDYDictionary.bytes.withUnsafeBufferPointer { inflateSetDictionary(stream, $0.baseAddress, UInt32($0.count)) }
                            if code == Z_OK { code = inflate(stream, Z_SYNC_FLUSH) }
                        }
                    }
                    return (code, outputBuffer.count - Int(stream.pointee.avail_out))
                }
                output += chunk[0..<produced]
                guard code == Z_OK || code == Z_BUF_ERROR || code == Z_STREAM_END else {
                    return Failure(description: "zlib \(direction) failed with code \(code)")
                }
                if stream.pointee.avail_out != 0 && (stream.pointee.avail_in == 0 || code != Z_OK) { break }
            }
            stream.pointee.next_in = nil
            return nil
        }
        if let failure { throw failure }
        return output
    }
}
