import BCSMongo
import Foundation
import Hummingbird

/// Reads and validates the query parameters the storage list routes share.
///
/// Every problem is a 400 naming the parameter; nothing reaches MongoDB unvalidated, and no value
/// can smuggle an operator (`$…`) into a filter.
struct QueryParameters {
    let query: [String: String]

    init(_ request: Request) {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            values[String(key)] = String(value)
        }
        query = values
    }

    init(_ values: [String: String]) { query = values }

    subscript(_ name: String) -> String? {
        guard let v = query[name], !v.isEmpty else { return nil }
        return v
    }

    /// `name=a,b,c` → `{field: {$in: [a, b, c]}}` (one value → equality).
    func addListFilter(_ name: String, field: String? = nil, to filter: inout BSONDocument) {
        guard let raw = self[name] else { return }
        let values = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !values.isEmpty else { return }
        filter[field ?? name] = values.count == 1 ? .string(values[0]) : ["$in": .array(values.map(BSON.string))]
    }

    /// A non-negative integer parameter.
    func nonNegativeInt(_ name: String) throws -> Int? {
        guard let raw = self[name] else { return nil }
        guard let v = Int(raw) else { throw StorageCode.badRequest("\(name) must be an integer, not '\(raw)'") }
        guard v >= 0 else { throw StorageCode.badRequest("\(name) must not be negative") }
        return v
    }

    /// The page: `offset` (default 0) and a size parameter (`length` or `limit`) with a default and a
    /// maximum. A size of 0 means the default, as in BCS.
    func page(sizeParameter: String, defaultSize: Int, maxSize: Int) throws -> (offset: Int, size: Int) {
        let offset = try nonNegativeInt("offset") ?? 0
        var size = try nonNegativeInt(sizeParameter) ?? defaultSize
        if size == 0 { size = defaultSize }
        guard size <= maxSize else {
            throw StorageCode.badRequest("\(sizeParameter) must be at most \(maxSize), not \(size)")
        }
        return (offset, size)
    }

    /// `timeBegin`/`timeEnd` (unix seconds, exclusive) on `field`.
    func addTimeRange(field: String, to filter: inout BSONDocument) throws {
        func seconds(_ name: String) throws -> Int64? {
            guard let raw = self[name] else { return nil }
            guard let v = Int64(raw) else { throw StorageCode.badRequest("\(name) must be unix seconds, not '\(raw)'") }
            return v
        }
        let begin = try seconds("timeBegin")
        let end = try seconds("timeEnd")
        if let begin, let end, begin > end {
            throw StorageCode.badRequest("timeBegin (\(begin)) is after timeEnd (\(end))")
        }
        var range = BSONDocument()
        if let begin { range["$gt"] = .datetime(begin * 1000) }
        if let end { range["$lt"] = .datetime(end * 1000) }
        if !range.isEmpty { filter[field] = .document(range) }
    }

    /// `field=a,b.c` → a projection of those paths (internal fields are removed on output anyway).
    func projection() throws -> BSONDocument? {
        guard let raw = self["field"] else { return nil }
        var projection = BSONDocument()
        for name in raw.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            try FieldNames.validatePath(name, parameter: "field")
            projection[name] = 1
        }
        return projection.isEmpty ? nil : projection
    }

    /// `extra`: base64 of a JSON object; each value (or array of values) must equal the field.
    func addExtra(to filter: inout BSONDocument) throws {
        guard let object = try base64JSONObject("extra") else { return }
        for (key, value) in object {
            try FieldNames.validatePath(key, parameter: "extra")
            switch value {
            case .array(let values):
                guard values.allSatisfy(Self.isScalar) else { throw StorageCode.badRequest("extra: '\(key)' must hold scalars") }
                filter[key] = ["$in": .array(values)]
            case _ where Self.isScalar(value):
                filter[key] = value
            default:
                throw StorageCode.badRequest("extra: '\(key)' must be a scalar or an array of scalars")
            }
        }
    }

    /// `extra_contain`: base64 of a JSON object of strings; each field must contain its string.
    func addExtraContain(to filter: inout BSONDocument) throws {
        guard let object = try base64JSONObject("extra_contain") else { return }
        for (key, value) in object {
            try FieldNames.validatePath(key, parameter: "extra_contain")
            guard case .string(let text) = value else {
                throw StorageCode.badRequest("extra_contain: '\(key)' must be a string")
            }
            filter[key] = ["$regex": .string(NSRegularExpression.escapedPattern(for: text))]
        }
    }

    private func base64JSONObject(_ name: String) throws -> BSONDocument? {
        guard let raw = self[name] else { return nil }
        // Query strings turn '+' into ' '; tolerate it and URL-safe base64 alike.
        var text = raw.replacingOccurrences(of: " ", with: "+").replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else {
            throw BCSAPIError(.badRequest, code: StorageCode.base64DecodeFailed, "\(name) is not valid base64")
        }
        guard case .document(let object) = try? JSONToBSON.parse([UInt8](data)) else {
            throw StorageCode.badRequest("\(name) must be base64 of a JSON object")
        }
        return object
    }

    static func isScalar(_ value: BSON) -> Bool {
        switch value {
        case .string, .int32, .int64, .double, .bool, .null: return true
        default: return false
        }
    }
}

import BCSCore
