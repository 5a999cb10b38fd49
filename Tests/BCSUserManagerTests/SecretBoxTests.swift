import Foundation
import Testing

@testable import BCSUserManager

@Suite("secrets: keyed hashes, sealing, constant-time comparison, token format")
struct SecretBoxTests {
    let box = SecretBox(secret: Array("unit-secret-0123456789abcdef-0123456789".utf8))

    @Test func lookupKeysAreKeyedDeterministicAndSeparatedByPurpose() {
        let token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
        let key = box.lookupKey(token, purpose: .userToken)
        #expect(key.count == 64 && key.allSatisfy(\.isHexDigit), "hex HMAC-SHA256")
        #expect(key == box.lookupKey(token, purpose: .userToken))
        #expect(key != box.lookupKey(token, purpose: .registerToken), "a register token never matches as a user token")
        #expect(key != SecretBox(secret: Array("another-secret-0123456789abcdef-012345".utf8)).lookupKey(token, purpose: .userToken))
        #expect(!key.contains(token))
        #expect(box.matches(token, storedKey: key, purpose: .userToken))
        #expect(!box.matches(token + "x", storedKey: key, purpose: .userToken))
        #expect(!box.matches(token, storedKey: String(key.dropLast()), purpose: .userToken))
    }

    @Test func sealedSecretsOpenOnlyWithTheSameKeyAndContext() throws {
        let sealed = try box.seal("service-account-token", context: "cluster_credentials/A/user_token")
        #expect(!sealed.contains("service-account-token"))
        #expect(try box.open(sealed, context: "cluster_credentials/A/user_token") == "service-account-token")
        #expect(try box.seal("x", context: "c") != box.seal("x", context: "c"), "a fresh nonce each time")
        #expect(throws: SecretBoxError.self, "moved to another record") { try box.open(sealed, context: "cluster_credentials/B/user_token") }
        let otherBox = SecretBox(secret: Array("another-secret-0123456789abcdef-012345".utf8))
        #expect(throws: SecretBoxError.self, "another server secret") { try otherBox.open(sealed, context: "cluster_credentials/A/user_token") }
        var bytes = Array(Data(base64Encoded: sealed)!)
        bytes[bytes.count / 2] ^= 0x01
        #expect(throws: SecretBoxError.self, "tampered") { try box.open(Data(bytes).base64EncodedString(), context: "cluster_credentials/A/user_token") }
        #expect(throws: SecretBoxError.self, "not base64") { try box.open("%%%", context: "c") }
    }

    @Test(arguments: [
        ([UInt8](), [UInt8](), true),
        ([1, 2, 3], [1, 2, 3], true),
        ([1, 2, 3], [1, 2, 4], false),
        ([1, 2, 3], [1, 2], false),
        ([], [0], false),
        ([0], [], false),
        ([UInt8](repeating: 0, count: 256), [], false),
    ] as [([UInt8], [UInt8], Bool)])
    func constantTimeEqualsAgreesWithEquality(a: [UInt8], b: [UInt8], equal: Bool) {
        #expect(constantTimeEquals(a, b) == equal)
    }

    @Test func tokensHaveBCSLengthsAndAlphabetAndDoNotRepeat() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let users = (0..<200).map { _ in TokenGenerator.userToken() }
        #expect(users.allSatisfy { $0.count == 32 && $0.allSatisfy(alphabet.contains) })
        #expect(Set(users).count == users.count)
        let register = TokenGenerator.registerToken()
        #expect(register.count == 128 && register.allSatisfy(alphabet.contains))
        // Every character shows up over many draws (the mapping covers the whole alphabet).
        let seen = Set((0..<100).flatMap { _ in TokenGenerator.registerToken() })
        #expect(seen == alphabet)
    }

    @Test func generatedSecretsAreLongAndRandom() {
        let a = SecretBox.generateSecret(), b = SecretBox.generateSecret()
        #expect(a.utf8.count >= SecretBox.minimumSecretLength && a != b)
    }
}
