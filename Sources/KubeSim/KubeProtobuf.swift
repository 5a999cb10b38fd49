import BCSMongo
import Foundation

/// Decodes the Kubernetes protobuf bodies kubectl 1.32+ sends for `create namespace` and
/// `create configmap|secret generic` (kubectl-wire.md §2.7); replies stay JSON, which kubectl accepts.
///
/// The envelope is `k8s\0` then a `runtime.Unknown` (typeMeta, raw); `raw` is the object's own
/// message. Only Namespace, ConfigMap and Secret, and only the fields those commands set, are decoded;
/// anything else is refused with 415, as before.
enum KubeProtobuf {
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    static func decode(_ bytes: [UInt8]) throws(KubeStatus) -> BSONDocument {
        guard bytes.starts(with: magic) else { throw .badRequest("protobuf body without the k8s magic prefix") }
        let unknown = try fields(bytes[magic.count...])
        guard let typeMeta = unknown[1]?.first, let raw = unknown[2]?.first else { throw .badRequest("protobuf body without type or object") }
        let meta = try fields(typeMeta)
        let apiVersion = string(meta[1]?.first)
        let kind = string(meta[2]?.first)
        let object = try fields(raw)
        var document: BSONDocument = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        if let metadata = object[1]?.first { document["metadata"] = .document(try objectMeta(metadata)) }
        switch kind {
        case "Namespace":
            break
        case "ConfigMap":
            if let entries = object[2] { document["data"] = .document(try map(entries) { .string(string($0)) }) }
            if let entries = object[3] { document["binaryData"] = .document(try map(entries) { .string(Data($0).base64EncodedString()) }) }
            if let immutable = object[4]?.first { document["immutable"] = .bool(immutable.first == 1) }
        case "Secret":
            if let entries = object[2] { document["data"] = .document(try map(entries) { .string(Data($0).base64EncodedString()) }) }
            if let type = object[3]?.first { document["type"] = .string(string(type)) }
            if let entries = object[4] { document["stringData"] = .document(try map(entries) { .string(string($0)) }) }
            if let immutable = object[5]?.first { document["immutable"] = .bool(immutable.first == 1) }
        default:
            throw KubeStatus(code: 415, reason: "UnsupportedMediaType",
                             message: "kube-sim decodes protobuf bodies only for Namespace, ConfigMap and Secret; send this \(kind) as JSON (kubectl create -f or apply -f)")
        }
        return document
    }

    private static func objectMeta(_ bytes: ArraySlice<UInt8>) throws(KubeStatus) -> BSONDocument {
        let meta = try fields(bytes)
        var document = BSONDocument()
        for (number, key) in [(1, "name"), (2, "generateName"), (3, "namespace")] {
            if let value = meta[number]?.first { document[key] = .string(string(value)) }
        }
        if let labels = meta[11] { document["labels"] = .document(try map(labels) { .string(string($0)) }) }
        if let annotations = meta[12] { document["annotations"] = .document(try map(annotations) { .string(string($0)) }) }
        return document
    }

    /// A protobuf `map<string, V>`: repeated entries with key 1 and value 2.
    private static func map(_ entries: [ArraySlice<UInt8>], _ value: (ArraySlice<UInt8>) -> BSON) throws(KubeStatus) -> BSONDocument {
        var document = BSONDocument()
        for entry in entries {
            let pair = try fields(entry)
            document[string(pair[1]?.first)] = value(pair[2]?.first ?? [])
        }
        return document
    }

    private static func string(_ bytes: ArraySlice<UInt8>?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }

    /// Splits a message into its fields by number: length-delimited payloads as they are, a
    /// varint as its low byte (only booleans are read), fixed-width values skipped.
    private static func fields(_ bytes: ArraySlice<UInt8>) throws(KubeStatus) -> [Int: [ArraySlice<UInt8>]] {
        var result: [Int: [ArraySlice<UInt8>]] = [:]
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
                let value = try varint()
                result[number, default: []].append(ArraySlice([UInt8(truncatingIfNeeded: value)]))
            case 1: index += 8
            case 5: index += 4
            case 2:
                let length = Int(try varint())
                guard length >= 0, index + length <= bytes.endIndex else { throw .badRequest("truncated protobuf body") }
                result[number, default: []].append(bytes[index..<(index + length)])
                index += length
            default:
                throw .badRequest("unsupported protobuf wire type \(key & 7)")
            }
        }
        guard index == bytes.endIndex else { throw .badRequest("truncated protobuf body") }
        return result
    }
}
