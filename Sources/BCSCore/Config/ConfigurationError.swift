/// A configuration problem found at start-up, with the one line the operator needs to read.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
