import BCSMongo

/// JSON merge patch (RFC 7386) and the strategic merge patch kubectl's apply, label, scale, set
/// and rollout send.
///
/// Strategic merge differs from a merge patch on lists of objects: lists the apiserver merges by a
/// key (`containers`, `ports`, `env`, `volumes`…) are merged element by element on `name` (or
/// `containerPort`/`port`), and `$setElementOrder/…`, `$retainKeys`, `$patch` directives are
/// honoured as far as apply needs (order kept, `$patch: delete` removes an element).
enum MergePatch {
    static func merge(_ target: BSON?, _ patch: BSON, strategic: Bool) -> BSON? {
        guard case .document(let patchDoc) = patch else { return patch.isNull ? nil : patch }
        var result = target?.documentValue ?? BSONDocument()
        for (key, value) in patchDoc.elements {
            if key.hasPrefix("$") { continue }
            if strategic, key.hasPrefix("$setElementOrder/") || key.hasPrefix("$deleteFromPrimitiveList/") { continue }
            if value.isNull {
                result[key] = nil
            } else if strategic, case .array(let patchList) = value, case .array(let targetList)? = result[key], let mergeKey = mergeKey(patchList + targetList) {
                result[key] = .array(mergeList(targetList, patchList, by: mergeKey))
            } else if case .document = value {
                result[key] = merge(result[key], value, strategic: strategic) ?? .document(BSONDocument())
            } else {
                result[key] = value
            }
        }
        return .document(result)
    }

    /// The field that identifies elements of a list of objects, when every element carries it.
    private static func mergeKey(_ list: [BSON]) -> String? {
        guard !list.isEmpty else { return nil }
        for candidate in ["name", "containerPort", "mountPath", "devicePath", "ip", "type", "port"] {
            if list.allSatisfy({ $0.documentValue?[candidate] != nil }) { return candidate }
        }
        return nil
    }

    private static func mergeList(_ target: [BSON], _ patch: [BSON], by key: String) -> [BSON] {
        var result = target
        for element in patch {
            let id = element.doc[key]
            let index = result.firstIndex { $0.doc[key] == id }
            if element.doc["$patch"]?.stringValue == "delete" {
                if let index { result.remove(at: index) }
            } else if let index {
                result[index] = merge(result[index], element, strategic: true) ?? element
            } else {
                result.append(merge(nil, element, strategic: true) ?? element)
            }
        }
        return result
    }
}
