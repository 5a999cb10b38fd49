/// An ordered BSON document.
///
/// Field order matters to MongoDB (sort specifications, index keys, commands), so this is a list of
/// key/value pairs rather than a dictionary. Lookups are linear, which is faster than hashing for the
/// small documents the product stores.
public struct BSONDocument: Sendable, Hashable {
    public private(set) var elements: [(key: String, value: BSON)]

    public init() { elements = [] }

    public init(_ pairs: [(String, BSON)]) {
        elements = pairs.map { (key: $0.0, value: $0.1) }
    }

    public var count: Int { elements.count }
    public var isEmpty: Bool { elements.isEmpty }
    public var keys: [String] { elements.map(\.key) }

    /// Reads a field; assigning replaces it in place, appends it when new, and removes it when `nil`.
    public subscript(key: String) -> BSON? {
        get {
            for element in elements where element.key == key { return element.value }
            return nil
        }
        set {
            if let index = elements.firstIndex(where: { $0.key == key }) {
                if let newValue { elements[index].value = newValue } else { elements.remove(at: index) }
            } else if let newValue {
                elements.append((key: key, value: newValue))
            }
        }
    }

    /// Appends without checking for an existing key (the caller knows the key is new).
    public mutating func append(_ key: String, _ value: BSON) {
        elements.append((key: key, value: value))
    }

    /// Follows a dotted path (`"extraInfo.name"`) through nested documents.
    public func value(atPath path: String) -> BSON? {
        var current: BSON = .document(self)
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .document(let doc) = current, let next = doc[String(part)] else { return nil }
            current = next
        }
        return current
    }

    public static func == (lhs: BSONDocument, rhs: BSONDocument) -> Bool {
        lhs.elements.count == rhs.elements.count
            && zip(lhs.elements, rhs.elements).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(elements.count)
        for element in elements {
            hasher.combine(element.key)
            hasher.combine(element.value)
        }
    }
}

extension BSONDocument: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, BSON)...) {
        self.init(elements)
    }
}

extension BSONDocument: Sequence {
    public func makeIterator() -> IndexingIterator<[(key: String, value: BSON)]> {
        elements.makeIterator()
    }
}
