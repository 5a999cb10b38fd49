import Foundation

/// `BSON` as a plain Codable value, so arbitrary JSON bodies (Kubernetes objects, `data` fields) can be
/// stored as documents and read back out as JSON.
///
/// Through JSON, integers that fit become int32/int64 and other numbers double; datetimes and
/// ObjectIds are written as an ISO 8601 string and a hex string. The BSON coders bypass this and keep
/// every type exactly.
extension BSON: Codable {
    public init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: AnyKey.self) {
            var doc = BSONDocument()
            for key in keyed.allKeys {
                doc.append(key.stringValue, try keyed.decode(BSON.self, forKey: key))
            }
            self = .document(doc)
            return
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var values: [BSON] = []
            while !unkeyed.isAtEnd { values.append(try unkeyed.decode(BSON.self)) }
            self = .array(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? single.decode(Int64.self) {
            self = Int32(exactly: i).map(BSON.int32) ?? .int64(i)
        } else if let d = try? single.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .document(let doc):
            var keyed = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in doc.elements { try keyed.encode(value, forKey: AnyKey(key)) }
        case .array(let values):
            var unkeyed = encoder.unkeyedContainer()
            for value in values { try unkeyed.encode(value) }
        default:
            var single = encoder.singleValueContainer()
            switch self {
            case .double(let d): try single.encode(d)
            case .string(let s): try single.encode(s)
            case .bool(let b): try single.encode(b)
            case .int32(let i): try single.encode(i)
            case .int64(let i): try single.encode(i)
            case .timestamp(let t): try single.encode(t)
            case .null: try single.encodeNil()
            case .objectId(let id): try single.encode(id.hex)
            case .datetime(let ms):
                let date = Date(timeIntervalSince1970: Double(ms) / 1000)
                try single.encode(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date))
            case .binary(_, let bytes): try single.encode(Data(bytes).base64EncodedString())
            case .opaque: try single.encodeNil()
            case .document, .array: break
            }
        }
    }
}

extension BSONDocument: Codable {
    public init(from decoder: any Decoder) throws {
        guard case .document(let doc) = try BSON(from: decoder) else {
            throw DecodingError.typeMismatch(BSONDocument.self, .init(codingPath: decoder.codingPath, debugDescription: "expected an object"))
        }
        self = doc
    }

    public func encode(to encoder: any Encoder) throws {
        try BSON.document(self).encode(to: encoder)
    }
}

struct AnyKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(_ s: String) { stringValue = s; intValue = nil }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}
