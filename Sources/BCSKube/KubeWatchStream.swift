import Foundation
import NIOCore
import NIOHTTP1

/// One line of a watch stream, decoded.
public enum KubeWatchEvent: Sendable, Equatable {
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    /// The apiserver has sent everything up to this resourceVersion; resume from here.
    case bookmark(resourceVersion: String)
    /// The watch cache no longer holds the requested version (an ERROR event of code 410): list again.
    case expired(message: String)
    /// Any other ERROR event: the stream is over.
    case error(status: Int, message: String)
}

/// The events of one `watch=1` response, in order; ends when the server ends the stream.
///
/// Events arrive in batches decoded on the connection's event loop (`WatchLineDecoder`); the
/// connection closes when the stream ends or fails, or when the watch's scope ends.
public struct KubeWatchStream: AsyncSequence {
    public typealias Element = KubeWatchEvent
    /// The connection's chunks, past the first (which said the watch opened); iterate once.
    let chunks: NIOAsyncChannelInboundStream<WatchChunk>.AsyncIterator

    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: NIOAsyncChannelInboundStream<WatchChunk>.AsyncIterator
        var buffered: [KubeWatchEvent] = []
        var position = 0

        public mutating func next() async throws -> KubeWatchEvent? {
            while position == buffered.count {
                guard let chunk = try await chunks.next() else { return nil }
                switch chunk {
                case .opened:
                    continue
                case .events(let events):
                    buffered = events
                    position = 0
                case .failed(let error):
                    throw error
                }
            }
            defer { position += 1 }
            return buffered[position]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(chunks: chunks)
    }

    /// Decodes one line `{"type": …, "object": …}`.
    public static func decode(_ line: ByteBuffer) throws -> KubeWatchEvent {
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(line.readableBytesView)
        } catch {
            throw KubeAPIError(status: 200, reason: "BadWatchEvent", message: "a watch line is not JSON: \(error)")
        }
        guard let type = parsed["type"]?.stringValue, let object = parsed["object"] else {
            throw KubeAPIError(status: 200, reason: "BadWatchEvent", message: "a watch line without type and object")
        }
        switch type {
        case "ADDED": return .added(object)
        case "MODIFIED": return .modified(object)
        case "DELETED": return .deleted(object)
        case "BOOKMARK":
            guard let version = object[path: "metadata", "resourceVersion"]?.stringValue else {
                throw KubeAPIError(status: 200, reason: "BadWatchEvent", message: "a BOOKMARK without metadata.resourceVersion")
            }
            return .bookmark(resourceVersion: version)
        case "ERROR":
            let code = Int(object["code"]?.intValue ?? 500)
            let message = object["message"]?.stringValue ?? "watch error"
            return code == 410 ? .expired(message: message) : .error(status: code, message: message)
        default:
            throw KubeAPIError(status: 200, reason: "BadWatchEvent", message: "unknown watch event type \(type)")
        }
    }
}

/// An apiserver answer other than success, with the `Status` reason and message when it sent one.
public struct KubeAPIError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let reason: String
    public let message: String

    public init(status: Int, reason: String, message: String) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    init(status: Int, body: ByteBuffer) {
        let parsed = try? JSONValue.parse(body.readableBytesView)
        self.init(status: status, reason: parsed?["reason"]?.stringValue ?? "HTTP \(status)",
                  message: parsed?["message"]?.stringValue ?? String(buffer: body).prefix(200).description)
    }

    /// 410 Gone / Expired: the resourceVersion is too old; the caller must list again.
    public var isGone: Bool { status == 410 }

    public var description: String { "apiserver answered \(status) \(reason): \(message)" }
}
