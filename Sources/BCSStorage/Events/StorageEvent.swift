import BCSMongo
import Foundation

/// One event as a client sends it (BCS's `BcsStorageEventIf`), validated and mapped to the
/// document storage keeps.
///
/// Body: `{id, env, kind, level, component, type, describe, clusterId, eventTime (unix s),
/// extraInfo{namespace, name, kind}, data}`. `clusterId`, `env`, `kind` and `eventTime` are required.
/// When `data.metadata.uid` is present the event has an identity `(clusterId, uid)` and its
/// `data.metadata.resourceVersion` orders its versions.
struct StorageEvent: Sendable {
    let clusterId: String
    /// `data.metadata.uid`, or a generated unique key when the event has none.
    let uid: String
    let hasIdentity: Bool
    /// `data.metadata.resourceVersion` as a number, when it is one.
    let resourceVersion: Int64?
    /// The fields written on insert and on every newer version.
    let fields: BSONDocument

    static let requiredStrings = ["clusterId", "env", "kind"]
    static let optionalStrings = ["id", "level", "component", "type", "describe"]
    static let extraInfoKeys = ["namespace", "name", "kind"]

    /// Validates one event; `path` prefixes error messages (`events[3]` in a batch).
    init(parsing value: BSON, path: String = "body") throws {
        guard case .document(let body) = value else {
            throw StorageCode.badRequest("\(path) must be a JSON object")
        }
        func field(_ key: String) -> String { path == "body" ? "field '\(key)'" : "\(path): field '\(key)'" }
        var fields = BSONDocument()
        for key in Self.requiredStrings {
            guard let raw = body[key], !raw.isNull else { throw StorageCode.badRequest("\(field(key)) is required") }
            guard case .string(let s) = raw else { throw StorageCode.badRequest("\(field(key)) must be a string") }
            guard !s.isEmpty else { throw StorageCode.badRequest("\(field(key)) must not be empty") }
            fields[key] = raw
        }
        for key in Self.optionalStrings {
            switch body[key] {
            case nil, .null?: fields[key] = ""
            case .string(let s)?: fields[key] = .string(s)
            default: throw StorageCode.badRequest("\(field(key)) must be a string")
            }
        }
        guard let timeValue = body["eventTime"], !timeValue.isNull else { throw StorageCode.badRequest("\(field("eventTime")) is required") }
        guard let seconds = timeValue.intValue, seconds >= 0, seconds < 253_402_300_800 else {
            throw StorageCode.badRequest("\(field("eventTime")) must be unix seconds (a non-negative integer)")
        }
        fields["eventTime"] = .datetime(Int64(seconds) * 1000)

        var extraInfo = BSONDocument()
        switch body["extraInfo"] {
        case nil, .null?: break
        case .document(let info)?:
            for key in Self.extraInfoKeys {
                switch info[key] {
                case nil, .null?: break
                case .string(let s)?: extraInfo[key] = .string(s)
                default: throw StorageCode.badRequest("\(field("extraInfo.\(key)")) must be a string")
                }
            }
        default: throw StorageCode.badRequest("\(field("extraInfo")) must be an object")
        }
        for key in Self.extraInfoKeys where extraInfo[key] == nil { extraInfo[key] = "" }
        fields["extraInfo"] = .document(extraInfo)

        var uid: String?
        var resourceVersion: Int64?
        switch body["data"] {
        case nil, .null?:
            fields["data"] = .document([:])
        case .document(let data)?:
            fields["data"] = try FieldNames.forStorage(.document(data), path: "data")
            if case .document(let metadata)? = data["metadata"] {
                if case .string(let u)? = metadata["uid"], !u.isEmpty { uid = u }
                if case .string(let rv)? = metadata["resourceVersion"] { resourceVersion = Int64(rv) }
            }
        default:
            throw StorageCode.badRequest("\(field("data")) must be an object")
        }

        self.clusterId = fields["clusterId"]!.stringValue!
        self.uid = uid ?? "generated:" + ObjectId().hex
        self.hasIdentity = uid != nil
        self.resourceVersion = resourceVersion
        self.fields = fields
    }

    /// The full document stored for this event, written at `now` (ms since the epoch).
    ///
    /// `createTime` is when the stored version was written: a version replacing an older one
    /// replaces the whole document, so retention by age spares events that are still updating.
    func document(now: Int64) -> BSONDocument {
        var document = fields
        document["_uid"] = .string(uid)
        document["_rv"] = .int64(resourceVersion ?? -1)
        document["createTime"] = .datetime(now)
        document["updateTime"] = .datetime(now)
        return document
    }

    /// The write for an event whose identity is already stored: replace the stored version only
    /// if it is older (or, without a numeric resourceVersion, always: last write wins).
    func replaceModel(now: Int64) -> WriteModel {
        var filter: BSONDocument = ["clusterId": .string(clusterId), "_uid": .string(uid)]
        if let resourceVersion { filter["_rv"] = ["$lt": .int64(resourceVersion)] }
        return .replaceOne(filter: filter, replacement: document(now: now), upsert: false)
    }
}
