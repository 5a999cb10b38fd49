import Crypto
import Foundation

/// The server secret at work: keyed lookup hashes for tokens and sealed (encrypted) copies of
/// secrets the API must return again.
///
/// Two independent keys are derived from the configured secret with HKDF-SHA256, one for
/// HMAC-SHA256 lookup keys and one for AES-256-GCM, so neither use weakens the other. A token is
/// found by `lookupKey(_:purpose:)` (an index on a keyed hash, never the token itself); where BCS
/// returns a secret again (a user's token, a register token, a cluster's CA and service-account
/// token) an AES-GCM copy is kept whose associated data names the record and field, so a sealed
/// value copied into another record does not open there.
public struct SecretBox: Sendable {
    // Raw key bytes: `SymmetricKey` is not `Sendable` in swift-crypto 3, so keys are rebuilt per use (a copy of 32 bytes).
    private let lookupKeyBytes: [UInt8]
    private let sealKeyBytes: [UInt8]
    private var lookupKey: SymmetricKey { SymmetricKey(data: lookupKeyBytes) }
    private var sealKey: SymmetricKey { SymmetricKey(data: sealKeyBytes) }

    /// The shortest secret accepted, in bytes (256 bits of key material).
    public static let minimumSecretLength = 32

    /// Derives the keys from `secret`; callers check the length first (`minimumSecretLength`).
    public init(secret: some DataProtocol) {
        let master = SymmetricKey(data: Data(secret))
        let salt = Data("bcs-usermanager-v1".utf8)
        lookupKeyBytes = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: salt, info: Data("token-lookup".utf8), outputByteCount: 32)
            .withUnsafeBytes { Array($0) }
        sealKeyBytes = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: salt, info: Data("secret-seal".utf8), outputByteCount: 32)
            .withUnsafeBytes { Array($0) }
    }

    /// A fresh random secret (the development mode's), as 64 hex characters.
    public static func generateSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The keyed hash under which a token is stored and looked up (hex HMAC-SHA256).
    ///
    /// `purpose` separates the domains (a register token never matches as a user token).
    public func lookupKey(_ token: String, purpose: TokenPurpose) -> String {
        var message = Array(purpose.rawValue.utf8)
        message.append(0)
        message.append(contentsOf: token.utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: lookupKey)
        return hex(mac)
    }

    /// Whether `token` hashes to `storedKey`, compared in constant time.
    public func matches(_ token: String, storedKey: String, purpose: TokenPurpose) -> Bool {
        constantTimeEquals(Array(lookupKey(token, purpose: purpose).utf8), Array(storedKey.utf8))
    }

    /// Encrypts `plaintext` bound to `context` (record and field); base64 of nonce‖ciphertext‖tag.
    public func seal(_ plaintext: String, context: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: sealKey, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SecretBoxError.sealFailed }
        return combined.base64EncodedString()
    }

    /// Decrypts what `seal` produced for the same `context`; fails on any tampering or key change.
    public func open(_ sealed: String, context: String) throws -> String {
        guard let combined = Data(base64Encoded: sealed) else { throw SecretBoxError.malformed }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            let plain = try AES.GCM.open(box, using: sealKey, authenticating: Data(context.utf8))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw SecretBoxError.cannotOpen
        }
    }
}

/// What a token is for; part of its lookup hash.
public enum TokenPurpose: String, Sendable {
    case userToken = "user-token"
    case registerToken = "register-token"
}

public enum SecretBoxError: Error, CustomStringConvertible {
    case sealFailed, malformed, cannotOpen

    public var description: String {
        switch self {
        case .sealFailed: return "sealing a secret failed"
        case .malformed: return "a sealed secret is malformed"
        case .cannotOpen: return "a sealed secret cannot be opened (wrong server secret, or tampered data)"
        }
    }
}

/// Lower-case hex of `bytes` (a table lookup: `String(format:)` per byte cost more than the HMAC itself).
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Compares two byte strings in time that depends only on their lengths, never on where they differ.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    // Lengths differing by a multiple of 256 must not truncate to "equal": compare them outright.
    var difference: UInt8 = a.count == b.count ? 0 : 1
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        difference |= x ^ y
    }
    return difference == 0
}
