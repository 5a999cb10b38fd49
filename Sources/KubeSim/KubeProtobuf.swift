import BCSMongo
import Foundation

/// Decodes the Kubernetes protobuf bodies kubectl 1.32+ sends for imperative `create`
/// (kubectl-wire.md §2.7) into the JSON-shaped documents the store keeps; replies stay JSON, which kubectl accepts.
///
/// The envelope is `k8s\0` then a `runtime.Unknown` (typeMeta, raw); `raw` is the object's own
/// message, read with the schemas in `KubeProtobufSchemas`. Go's generated code writes non-pointer
/// scalars even when empty, so empty strings, zeros and `false` are dropped unless the field is a
/// pointer in Go (`replicas: 0` means something), matching the JSON kubectl would have sent.
/// Kinds without a schema are refused with 415, as the apiserver refuses media types it cannot read.
enum KubeProtobuf {
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// One wire value: a varint or a length-delimited payload (fixed-width values are skipped).
    enum Raw {
        case varint(UInt64)
        case bytes(ArraySlice<UInt8>)

        var payload: ArraySlice<UInt8> { if case .bytes(let bytes) = self { bytes } else { [] } }
        var number: UInt64 { if case .varint(let value) = self { value } else { 0 } }
    }

    static func decode(_ bytes: [UInt8]) throws(KubeStatus) -> BSONDocument {
        guard bytes.starts(with: magic) else { throw .badRequest("protobuf body without the k8s magic prefix") }
        let unknown = try fields(bytes[magic.count...])
        guard let typeMeta = unknown[1]?.first?.payload, let raw = unknown[2]?.first?.payload else { throw .badRequest("protobuf body without type or object") }
        let meta = try fields(typeMeta)
        let apiVersion = string(meta[1]?.first?.payload)
        let kind = string(meta[2]?.first?.payload)
        guard let schema = KubeProtobufSchemas.kinds[kind] else {
            throw KubeStatus(code: 415, reason: "UnsupportedMediaType",
                             message: "kube-sim decodes protobuf bodies only for \(KubeProtobufSchemas.kinds.keys.sorted().joined(separator: ", ")); send this \(kind) as JSON (kubectl create -f or apply -f)")
        }
        var document: BSONDocument = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        for (key, value) in try message(raw, schema) { document[key] = value }
        return document
    }

    static func message(_ bytes: ArraySlice<UInt8>, _ schema: [Int: KubeProtobufSchemas.Field]) throws(KubeStatus) -> BSONDocument {
        let raw = try fields(bytes)
        var document = BSONDocument()
        for number in raw.keys.sorted() {
            guard let field = schema[number], let values = raw[number] else { continue }
            if case .map(let valueType) = field.type {
                var entries = BSONDocument()
                for entry in values {
                    let pair = try fields(entry.payload)
                    entries[string(pair[1]?.first?.payload)] = try value(pair[2]?.first ?? .bytes([]), valueType, keepsZero: true)
                }
                if !entries.isEmpty || field.keepsZero { document[field.name] = .document(entries) }
            } else if field.repeated {
                var items: [BSON] = []
                for item in values { if let decoded = try value(item, field.type, keepsZero: true) { items.append(decoded) } }
                document[field.name] = .array(items)
            } else if let last = values.last, let decoded = try value(last, field.type, keepsZero: field.keepsZero) {
                document[field.name] = decoded
            }
        }
        return document
    }

    private static func value(_ raw: Raw, _ type: KubeProtobufSchemas.ValueType, keepsZero: Bool) throws(KubeStatus) -> BSON? {
        switch type {
        case .string:
            let text = string(raw.payload)
            return text.isEmpty && !keepsZero ? nil : .string(text)
        case .bytes:
            return .string(Data(raw.payload).base64EncodedString())
        case .int:
            let number = Int64(bitPattern: raw.number)
            if number == 0, !keepsZero { return nil }
            return Int32(exactly: number).map(BSON.int32) ?? .int64(number)
        case .bool:
            return raw.number == 0 && !keepsZero ? nil : .bool(raw.number != 0)
        case .message(let schema):
            return .document(try message(raw.payload, schema))
        case .map:
            return nil
        case .intOrString:
            let parts = try fields(raw.payload)
            if parts[1]?.first?.number == 1 { return .string(string(parts[3]?.first?.payload)) }
            let number = Int64(bitPattern: parts[2]?.first?.number ?? 0)
            return Int32(exactly: number).map(BSON.int32) ?? .int64(number)
        case .quantity:
            return .string(string(try fields(raw.payload)[1]?.first?.payload))
        }
    }

    private static func string(_ bytes: ArraySlice<UInt8>?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }

    /// Splits a message into its fields by number.
    static func fields(_ bytes: ArraySlice<UInt8>) throws(KubeStatus) -> [Int: [Raw]] {
        var result: [Int: [Raw]] = [:]
        var index = bytes.startIndex
        func varint() throws(KubeStatus) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < bytes.endIndex, shift < 64 else { throw .badRequest("truncated protobuf body") }
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }
        while index < bytes.endIndex {
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0:
                result[number, default: []].append(.varint(try varint()))
            case 1: index += 8
            case 5: index += 4
            case 2:
                let length = Int(try varint())
                guard length >= 0, length <= bytes.endIndex - index else { throw .badRequest("truncated protobuf body") }
                result[number, default: []].append(.bytes(bytes[index..<(index + length)]))
                index += length
            default:
                throw .badRequest("unsupported protobuf wire type \(key & 7)")
            }
        }
        guard index == bytes.endIndex else { throw .badRequest("truncated protobuf body") }
        return result
    }
}
