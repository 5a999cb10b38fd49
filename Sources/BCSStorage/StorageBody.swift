import BCSCore
import BCSMongo
import Foundation
import Hummingbird

/// Request bodies of the storage routes: bounded, JSON, decoded into BSON values.
enum StorageBody {
    static func json(_ request: Request, limit: Int) async throws -> BSON {
        let buffer = try await BCSBody.collect(request, limit: limit, code: StorageCode.unmarshalFailed)
        guard buffer.readableBytes > 0 else { throw StorageCode.badRequest("request body is empty") }
        do {
            return try buffer.withUnsafeReadableBytes { try JSONToBSON.parse($0) }
        } catch let error as JSONToBSON.ParseError {
            throw StorageCode.badRequest("request body is not valid JSON (\(error.reason) at byte \(error.offset))")
        }
    }
}

/// Size limits of the storage API.
struct StorageLimits: Sendable {
    var eventBodyBytes = 1 << 20
    var batchBodyBytes = 16 << 20
    var resourceBodyBytes = 4 << 20
    var maxBatch = 1000
    /// Page size of event and alarm lists when `length` is absent or 0, and its maximum.
    var defaultPage = 100
    var maxPage = 1000
    /// Page size of dynamic-resource lists when `limit` is absent or 0, and its maximum.
    var defaultResourcePage = 1000
    var maxResourcePage = 5000
}

import NIOFoundationCompat
