import Foundation
import Hummingbird
import NIOCore

/// BCS's response envelope: `{"result": bool, "code": int, "message": string, "data": …}`.
///
/// `result` is true exactly when `code` is 0. List endpoints of storage add a top-level `total`.
public struct BCSEnvelope<Payload: Encodable>: Encodable {
    public var result: Bool
    public var code: Int
    public var message: String
    public var data: Payload?
    public var total: Int?

    public init(code: Int = 0, message: String = "success", data: Payload?, total: Int? = nil) {
        self.result = code == 0
        self.code = code
        self.message = message
        self.data = data
        self.total = total
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(result, forKey: .result)
        try container.encode(code, forKey: .code)
        try container.encode(message, forKey: .message)
        if let data { try container.encode(data, forKey: .data) } else { try container.encodeNil(forKey: .data) }
        if let total { try container.encode(total, forKey: .total) }
    }

    private enum Keys: String, CodingKey { case result, code, message, data, total }

    /// The envelope as a JSON response.
    public func response(status: HTTPResponse.Status = .ok) -> Response {
        let body: Data
        do {
            body = try BCSJSON.encoder.encode(self)
        } catch {
            body = Data(#"{"result":false,"code":1405050,"message":"response encoding failed","data":null}"#.utf8)
        }
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// A successful envelope with `data` (and `total` on lists).
public func bcsSuccess(_ data: some Encodable, total: Int? = nil, status: HTTPResponse.Status = .ok) -> Response {
    BCSEnvelope(data: data, total: total).response(status: status)
}

/// A successful envelope whose `data` is null.
public func bcsSuccessNoData(status: HTTPResponse.Status = .ok) -> Response {
    // The same bytes every time: encoded once (hot on write-heavy routes such as credential reports).
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: successNoDataBody))
}

private let successNoDataBody = ByteBuffer(bytes: (try? BCSJSON.encoder.encode(BCSEnvelope<Int>(data: nil)))
    ?? Data(#"{"code":0,"data":null,"message":"success","result":true}"#.utf8))

/// An API error that renders as the BCS envelope with its HTTP status and BCS code.
public struct BCSAPIError: Error, HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: Int
    public let message: String

    public init(_ status: HTTPResponse.Status, code: Int, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        BCSEnvelope<Int>(code: code, message: message, data: nil).response(status: status)
    }
}

/// Shared JSON coders: sorted keys make responses stable for tests and diffs.
public enum BCSJSON {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// Request bodies read with an explicit limit, failing with the role's own envelope and code.
public enum BCSBody {
    /// Collects the body; over `limit` bytes is a 413 with `code`.
    public static func collect(_ request: Request, limit: Int, code: Int) async throws -> ByteBuffer {
        try await collect(request, limit: limit) { BCSAPIError(.contentTooLarge, code: code, $0) }
    }

    /// Collects the body; over `limit` bytes throws what `tooLarge` makes of the explanation (each
    /// API answers in its own format: the BCS envelope, a Kubernetes `Status`).
    public static func collect(_ request: Request, limit: Int, tooLarge: (String) -> any Error) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge("request body of \(length) bytes is over the \(limit)-byte limit")
        }
        var request = request
        do {
            return try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            // A body without Content-Length (chunked) that runs over.
            throw tooLarge("request body is over the \(limit)-byte limit")
        }
    }

    /// Collects and decodes a JSON body; malformed JSON or wrong types are a 400 naming the problem.
    public static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int, code: Int) async throws -> T {
        let buffer = try await collect(request, limit: limit, code: code)
        do {
            return try JSONDecoder().decode(type, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw BCSAPIError(.badRequest, code: code, describe(error))
        }
    }

    /// One line naming the field and the problem, for 400 responses.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "body" : "field '\(p.replacingOccurrences(of: ".[", with: "["))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "field '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)' is required"
        case .typeMismatch(let type, let context):
            return "\(path(context)) has the wrong type (expected \(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) must not be null (expected \(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "request body is not valid JSON" }
            return "\(path(context)) is invalid: \(context.debugDescription)"
        @unknown default:
            return "request body could not be decoded"
        }
    }
}

import NIOFoundationCompat
