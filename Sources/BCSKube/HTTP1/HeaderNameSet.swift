import NIOCore

/// A set of header names (lowercase) that a head's field names can be looked up in as bytes,
/// ignoring case, without making a `String` of each name.
///
/// Why: the wire lane drops the same fields as the parsed path, whose rules are `Set<String>`s;
/// deriving this from those sets keeps one list of names instead of two that could drift apart.
public struct HeaderNameSet: Sendable {
    /// The names' bytes, by length.
    private let byLength: [Int: [[UInt8]]]

    public init(_ names: some Sequence<String>) {
        byLength = Dictionary(grouping: names.map { Array($0.lowercased().utf8) }, by: \.count)
    }

    /// Whether the field name at `range` of `head` is in the set.
    public func contains(_ head: HTTP1Head, _ range: Range<Int>) -> Bool {
        guard let candidates = byLength[range.count] else { return false }
        return head.bytes.withUnsafeReadableBytes { bytes in
            candidates.contains { name in
                for offset in 0..<name.count where bytes[range.lowerBound + offset] | 0x20 != name[offset] | 0x20 { return false }
                return true
            }
        }
    }
}
