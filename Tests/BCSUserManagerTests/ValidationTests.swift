import Testing

@testable import BCSUserManager

@Suite("input validation")
struct ValidationTests {
    @Test(arguments: [
        ("https://10.0.0.1:6443", true), ("https://api.example.com", true), ("HTTPS://Api.Example.com:443/k8s", true),
        ("https://[fd00::1]:6443", true), ("https://[fd00::1]", true), ("https://kubernetes.default.svc/", true),
        ("http://10.0.0.1:6443", false), ("10.0.0.1:6443", false), ("https://", false), ("https://:6443", false),
        ("https://10.0.0.1:0", false), ("https://10.0.0.1:65536", false), ("https://10.0.0.1:64x3", false), ("https://10.0.0.1:", false),
        ("https://u:p@10.0.0.1", false), ("https://10.0.0.1/?q=1", false), ("https://10.0.0.1/#f", false), ("https://10.0.0.1 x", false),
        ("https://10.0.0.1:6443,https://10.0.0.2:6443", false), ("https://[fd00::1", false), ("https://[]:1", false), ("https://a\u{7}b", false),
        ("ftp://10.0.0.1", false), ("https:/10.0.0.1", false),
    ])
    func httpsURLs(url: String, valid: Bool) {
        #expect((Validate.httpsURLProblem(url) == nil) == valid, "\(url)")
    }

    @Test func serverAddressListsSplitOnSemicolonsAndTrimSpaces() throws {
        #expect(try Validate.serverAddresses("https://a:1; https://b:2") == ["https://a:1", "https://b:2"])
        #expect(throws: (any Error).self) { try Validate.serverAddresses("https://a:1;;https://b:2") }
        #expect(throws: (any Error).self) { try Validate.serverAddresses(" ") }
    }

    @Test func pemAndNames() throws {
        try Validate.caCertificate("x\n-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n")
        #expect(throws: (any Error).self) { try Validate.caCertificate("-----BEGIN CERTIFICATE-----") }
        #expect(throws: (any Error).self) { try Validate.caCertificate("") }
        #expect(Validate.contains("abcabd", "abd") && !Validate.contains("abcab", "abd") && !Validate.contains("ab", "abc"))
        #expect(try Validate.clusterID("BCS-K8S-001") == "BCS-K8S-001")
        #expect(throws: (any Error).self) { try Validate.clusterID("a@b") }
        #expect(try Validate.userName("a.b_c-d@e") == "a.b_c-d@e")
        #expect(throws: (any Error).self) { try Validate.userName("a b") }
        #expect(Validate.printable("a\u{0}b") == "a?b" && Validate.printable(String(repeating: "x", count: 100)).count == 81)
    }
}
