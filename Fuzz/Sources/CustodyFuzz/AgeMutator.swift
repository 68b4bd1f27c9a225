import CustodyKit

/// A structure-aware mutator for age files encrypted to the testkit identity (`FuzzKeys.ageIdentity`): it mutates
/// the header up to `---` (or the payload), then recomputes the header MAC with the testkit's file key, so
/// mutated stanzas and payloads get past the MAC check. HMAC-SHA-256 and HKDF are written out here from RFC 2104
/// and RFC 5869 over custody's public SHA-256, independent of the library's own (OpenSSL) code.
enum AgeMutator {
    static func mutate(_ bytes: inout [UInt8], maxSize: Int, random: inout FuzzRandom) {
        guard random.below(6) != 0, let (macStart, headerEnd) = macLine(bytes) else {
            libFuzzerMutate(&bytes, maxSize: maxSize)
            return
        }
        var header = Array(bytes[..<macStart])
        var payload = Array(bytes[headerEnd...])
        if random.below(3) == 0 {
            libFuzzerMutate(&payload, maxSize: max(maxSize - header.count - 48, 1))
        } else {
            libFuzzerMutate(&header, maxSize: max(maxSize - payload.count - 48, 1))
        }
        let out = sealed(header) + payload
        bytes = out.count <= maxSize ? out : Array(out.prefix(maxSize))
    }

    /// The header (everything before `---`) closed by its MAC line under the testkit file key.
    static func sealed(_ header: [UInt8]) -> [UInt8] {
        let macInput = header + Array("---".utf8)
        let mac = hmac(key: hkdf(key: FuzzKeys.ageFileKey, info: Array("header".utf8)), message: macInput)
        return macInput + Array((" " + Base64.encode(mac).replacing("=", with: "") + "\n").utf8)
    }

    /// Where the `---` line starts and where the header ends (after its LF).
    static func macLine(_ bytes: [UInt8]) -> (Int, Int)? {
        let marker = Array("\n---".utf8)
        var index = 0
        while index + marker.count <= bytes.count {
            if bytes[index..<(index + marker.count)].elementsEqual(marker) {
                let start = index + 1
                guard let end = bytes[start...].firstIndex(of: 0x0A) else { return nil }
                return (start, end + 1)
            }
            index += 1
        }
        return nil
    }

    static func hmac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? Digester.digest(.sha256, key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = Digester.digest(.sha256, block.map { $0 ^ 0x36 } + message)
        return Digester.digest(.sha256, block.map { $0 ^ 0x5c } + inner)
    }

    /// HKDF-SHA-256 with an empty salt, 32 bytes out.
    static func hkdf(key: [UInt8], info: [UInt8]) -> [UInt8] {
        let pseudorandomKey = hmac(key: [UInt8](repeating: 0, count: 32), message: key)
        return hmac(key: pseudorandomKey, message: info + [1])
    }
}
