import NIOCore
import Synchronization

/// The server side of one SPDY/3.1 session, as kubectl's exec and port-forward speak it (kubectl-wire.md §6.2).
///
/// kubectl opens every stream (odd ids) with a SYN_STREAM whose only meaningful headers are
/// `streamtype`, `port` and `requestid`; the server answers each with an empty SYN_REPLY before
/// any DATA on it, echoes PINGs, and ends the session on GOAWAY or when the transport closes.
/// Frames leave through `frames` in the order they were made, which keeps the header
/// compressor's stream and the reply-before-data rule intact whatever task sends them. Flow
/// control windows are not enforced: kubectl's spdystream sends no WINDOW_UPDATE either.
final class SPDYConnection: Sendable {
    /// A stream the client opened: its headers and the bytes it sends on it until FIN or RST_STREAM.
    struct Stream: Sendable {
        let id: UInt32
        let headers: [String: String]
        let data: AsyncStream<[UInt8]>

        var type: String { headers["streamtype"] ?? "" }
    }

    private struct State {
        let deflater = SPDYHeaderCompression(.deflate)
        var inbound: [UInt32: AsyncStream<[UInt8]>.Continuation] = [:]
        var reset: Set<UInt32> = []
    }

    private enum FrameType: UInt16 {
        case synStream = 1, synReply = 2, rstStream = 3, settings = 4, ping = 6, goAway = 7, headers = 8, windowUpdate = 9
    }

    private let state = Mutex(State())
    private let output: AsyncStream<ByteBuffer>.Continuation
    /// The frames to write to the transport, in order; finishes after `finish()`.
    let frames: AsyncStream<ByteBuffer>

    init() {
        let (frames, output) = AsyncStream<ByteBuffer>.makeStream()
        self.frames = frames
        self.output = output
    }

    /// Runs `session` over a byte transport: `inbound` carries the client's bytes (any chunking),
    /// `write` sends one frame, `hangUp` ends the transport's reading side.
    ///
    /// When the session returns its frames are flushed and the client, which resets its streams
    /// and says GOAWAY once it has read everything, gets ten seconds to hang up first.
    static func run(inbound: AsyncStream<ByteBuffer>, write: @escaping @Sendable (ByteBuffer) async throws -> Void,
                    hangUp: @escaping @Sendable () -> Void,
                    session: @escaping @Sendable (SPDYConnection, AsyncStream<Stream>) async -> Void) async {
        let connection = SPDYConnection()
        let (streams, opened) = AsyncStream<Stream>.makeStream()
        let reader = Task { await connection.serve(inbound, streams: opened) }
        let writer = Task {
            for await frame in connection.frames {
                do { try await write(frame) } catch { break }
            }
        }
        await session(connection, streams)
        connection.finish()
        await writer.value
        let deadline = Task {
            try? await Task.sleep(for: .seconds(10))
            if !Task.isCancelled { hangUp() }
        }
        await reader.value
        deadline.cancel()
    }

    /// Waits (up to kubelet's 30 s) until the client has opened `count` streams, keyed by `streamtype`.
    ///
    /// Exec and attach need all their streams before they start (kubectl-wire.md §6.3); later
    /// streams, and the end of the session, can still be read from `streams` afterwards.
    static func collect(_ streams: AsyncStream<Stream>, count: Int) async -> [String: Stream] {
        await withTaskGroup(of: [String: Stream]?.self) { group in
            group.addTask {
                var found: [String: Stream] = [:]
                for await stream in streams {
                    found[stream.type] = stream
                    if found.count == count { break }
                }
                return found
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? [:]
        }
    }

    /// Answers a client stream; sent by `serve` as soon as the SYN_STREAM arrives.
    private func reply(_ id: UInt32) {
        state.withLock { state in
            guard let block = try? state.deflater.process([0, 0, 0, 0]) else { return }
            var payload = ByteBuffer()
            payload.writeInteger(id & 0x7FFF_FFFF)
            payload.writeBytes(block)
            output.yield(Self.controlFrame(.synReply, flags: 0, payload: payload))
        }
    }

    /// Sends bytes on a stream, in frames of at most 16 KiB; `fin` half-closes it.
    func send(_ bytes: [UInt8], on id: UInt32, fin: Bool = false) {
        state.withLock { state in
            guard !state.reset.contains(id) else { return }
            var offset = 0
            repeat {
                let end = min(bytes.count, offset + 16384)
                var frame = ByteBuffer()
                frame.writeInteger(id & 0x7FFF_FFFF)
                frame.writeInteger(UInt8(fin && end == bytes.count ? 1 : 0))
                frame.writeInteger(UInt8(truncatingIfNeeded: (end - offset) >> 16))
                frame.writeInteger(UInt16(truncatingIfNeeded: end - offset))
                frame.writeBytes(bytes[offset..<end])
                output.yield(frame)
                offset = end
            } while offset < bytes.count
        }
    }

    /// Half-closes a stream from the server's side.
    func close(_ id: UInt32) { send([], on: id, fin: true) }

    /// Ends the outgoing frames: after this, nothing more is sent.
    func finish() { output.finish() }

    /// Reads frames from `bytes` until the transport ends or the client says GOAWAY.
    private func serve(_ bytes: AsyncStream<ByteBuffer>, streams: AsyncStream<Stream>.Continuation) async {
        let inflater = SPDYHeaderCompression(.inflate)
        var buffer = ByteBuffer()
        reading: for await chunk in bytes {
            var chunk = chunk
            buffer.writeBuffer(&chunk)
            while buffer.readableBytes >= 8, let length = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt32.self).map({ Int($0 & 0x00FF_FFFF) }),
                  buffer.readableBytes >= 8 + length {
                var frame = buffer.readSlice(length: 8 + length)!
                guard handle(&frame, inflater: inflater, streams: streams) else { break reading }
            }
            buffer.discardReadBytes()
        }
        streams.finish()
        let open = state.withLock { state in
            defer { state.inbound = [:] }
            return Array(state.inbound.values)
        }
        for continuation in open { continuation.finish() }
    }

    /// Handles one whole frame; false ends the session.
    private func handle(_ frame: inout ByteBuffer, inflater: SPDYHeaderCompression, streams: AsyncStream<Stream>.Continuation) -> Bool {
        let whole = frame
        guard let first = frame.readInteger(as: UInt32.self), let flags = frame.readInteger(as: UInt8.self) else { return false }
        frame.moveReaderIndex(forwardBy: 3)
        guard first & 0x8000_0000 != 0 else {
            let id = first & 0x7FFF_FFFF
            let payload = Array(frame.readableBytesView)
            let continuation = state.withLock { state in
                flags & 1 != 0 ? state.inbound.removeValue(forKey: id) : state.inbound[id]
            }
            if !payload.isEmpty { continuation?.yield(payload) }
            if flags & 1 != 0 { continuation?.finish() }
            return true
        }
        switch FrameType(rawValue: UInt16(first & 0xFFFF)) {
        case .synStream:
            guard let id = frame.readInteger(as: UInt32.self).map({ $0 & 0x7FFF_FFFF }) else { return false }
            frame.moveReaderIndex(forwardBy: 6)
            guard let block = try? inflater.process(frame.readableBytesView), let headers = Self.parseHeaders(block) else { return false }
            let (data, continuation) = AsyncStream<[UInt8]>.makeStream()
            if flags & 1 != 0 { continuation.finish() } else { state.withLock { $0.inbound[id] = continuation } }
            reply(id)
            streams.yield(Stream(id: id, headers: headers, data: data))
        case .headers:
            // Keeps the inflater in step; kubectl sends no HEADERS frames and none are needed.
            frame.moveReaderIndex(forwardBy: 4)
            guard (try? inflater.process(frame.readableBytesView)) != nil else { return false }
        case .rstStream:
            guard let id = frame.readInteger(as: UInt32.self).map({ $0 & 0x7FFF_FFFF }) else { return false }
            let continuation = state.withLock { state in
                state.reset.insert(id)
                return state.inbound.removeValue(forKey: id)
            }
            continuation?.finish()
        case .ping:
            output.yield(whole)
        case .goAway:
            return false
        case .synReply, .settings, .windowUpdate, nil:
            break
        }
        return true
    }

    private static func controlFrame(_ type: FrameType, flags: UInt8, payload: ByteBuffer) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.writeInteger(UInt16(0x8003))
        frame.writeInteger(type.rawValue)
        frame.writeInteger(flags)
        frame.writeInteger(UInt8(truncatingIfNeeded: payload.readableBytes >> 16))
        frame.writeInteger(UInt16(truncatingIfNeeded: payload.readableBytes))
        var payload = payload
        frame.writeBuffer(&payload)
        return frame
    }

    /// A decompressed header block: a count, then length-prefixed names and values (several values NUL-separated).
    static func parseHeaders(_ block: [UInt8]) -> [String: String]? {
        var buffer = ByteBuffer(bytes: block)
        guard let count = buffer.readInteger(as: UInt32.self) else { return nil }
        var headers: [String: String] = [:]
        for _ in 0..<count {
            guard let nameLength = buffer.readInteger(as: UInt32.self), let name = buffer.readString(length: Int(nameLength)),
                  let valueLength = buffer.readInteger(as: UInt32.self), let value = buffer.readString(length: Int(valueLength)) else { return nil }
            headers[name.lowercased()] = value.split(separator: "\0", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        return headers
    }
}
