import Testing
@testable import KubeSim

/// The SPDY/3.1 pieces kubectl's own streams cannot isolate: the dictionary and the header codec.
@Suite("kube-sim SPDY/3.1 framing")
struct SPDYTests {
    @Test("the SPDY/3 dictionary is the spec's 1,423 bytes (Adler-32 0xE3C6A7C2)")
    func dictionary() {
        let bytes = SPDYDictionary.bytes
        #expect(bytes.count == 1423)
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        #expect(b << 16 | a == 0xE3C6_A7C2)
    }

    @Test("header blocks survive one compressor and one decompressor across several frames, as on a connection")
    func headerCompression() throws {
        let deflater = SPDYHeaderCompression(.deflate)
        let inflater = SPDYHeaderCompression(.inflate)
        for (type, port) in [("error", "80"), ("data", "80"), ("error", "8080"), ("data", "8080")] {
            let block = Self.block(["streamtype": type, "port": port, "requestid": "0"])
            let compressed = try deflater.process(block)
            // A sync flush ends every block with an empty stored block.
            #expect(compressed.suffix(4) == [0, 0, 0xFF, 0xFF])
            let headers = try #require(SPDYConnection.parseHeaders(try inflater.process(compressed)))
            #expect(headers == ["streamtype": type, "port": port, "requestid": "0"])
        }
    }

    @Test("a truncated header block is refused, not read past its end")
    func truncatedBlock() {
        let block = Self.block(["streamtype": "stdout"])
        #expect(SPDYConnection.parseHeaders(Array(block.dropLast(2))) == nil)
        #expect(SPDYConnection.parseHeaders([]) == nil)
    }

    private static func block(_ headers: KeyValuePairs<String, String>) -> [UInt8] {
        func length(_ count: Int) -> [UInt8] { [UInt8(count >> 24 & 0xFF), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)] }
        var bytes = length(headers.count)
        for (name, value) in headers { bytes += length(name.utf8.count) + Array(name.utf8) + length(value.utf8.count) + Array(value.utf8) }
        return bytes
    }
}
