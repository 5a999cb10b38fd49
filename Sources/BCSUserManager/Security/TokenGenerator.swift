/// Random tokens in BCS's format: `[A-Za-z0-9]` from the system's cryptographic RNG.
///
/// BCS uses `uniuri.NewLen`: 32 characters for user tokens, 128 for register tokens. Bytes are drawn
/// from `SystemRandomNumberGenerator` (getrandom(2) on Linux) and mapped with rejection sampling, so
/// every character is uniformly likely (no modulo bias).
public enum TokenGenerator {
    public static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    public static let userTokenLength = 32
    public static let registerTokenLength = 128

    public static func token(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        // 248 = 4 × 62: bytes at or above it would favour the first characters, so they are redrawn.
        while bytes.count < length {
            let r = UInt8.random(in: 0...255, using: &generator)
            if r < 248 { bytes.append(alphabet[Int(r % 62)]) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func userToken() -> String { token(length: userTokenLength) }
    public static func registerToken() -> String { token(length: registerTokenLength) }

    /// Whether `text` looks like a BCS token (only `[A-Za-z0-9]`); cheap rejection before hashing.
    public static func isWellFormed(_ text: String, maxLength: Int = 256) -> Bool {
        !text.isEmpty && text.utf8.count <= maxLength && text.utf8.allSatisfy { alphabet.contains($0) }
    }
}
