import BCSMongo

/// Turns stored documents back into what clients sent: original keys, no internal fields.
enum StoredDocument {
    /// Fields storage keeps for itself (identity and version of events) and never returns.
    static let internalFields: Set<String> = ["_uid", "_rv"]

    static func forOutput(_ document: BSONDocument) -> BSON {
        var out = BSONDocument()
        for (key, value) in document where !internalFields.contains(key) {
            if key.contains(".") {
                // Stored keys never contain dots (they are escaped), so a dotted key is a projected
                // path a server returned flat (nx-27017 does): nest it as MongoDB would.
                insert(value, at: key.split(separator: ".").map(String.init), into: &out)
            } else {
                out.append(key, value)
            }
        }
        if let data = out["data"] { out["data"] = FieldNames.fromStorage(data) }
        return .document(out)
    }

    private static func insert(_ value: BSON, at path: [String], into document: inout BSONDocument) {
        guard let key = path.first else { return }
        guard path.count > 1 else {
            document[key] = value
            return
        }
        var child = document[key]?.documentValue ?? BSONDocument()
        insert(value, at: Array(path.dropFirst()), into: &child)
        document[key] = .document(child)
    }
}
