import CustodyKit

/// A structure-aware mutator for signed notes (checkpoints, transfer statements, receipts, consents): it mutates
/// the note's text and signs it again with the fixed test key, so the parsers behind the signature check are
/// reached. Sometimes it keeps the old signature lines too, or mutates the whole note as bytes.
enum NoteMutator {
    static func mutate(_ bytes: inout [UInt8], maxSize: Int, random: inout FuzzRandom) {
        guard random.below(6) != 0, let split = lastBlankLine(bytes) else {
            libFuzzerMutate(&bytes, maxSize: maxSize)
            return
        }
        var text = Array(bytes[0...split])
        let oldSignatures = Array(bytes[(split + 2)...])
        libFuzzerMutate(&text, maxSize: max(maxSize - 128, 1))
        if random.below(3) != 0 && text.last != 0x0A { text.append(0x0A) }
        var note = text + [0x0A] + signatureLine(text)
        if random.below(4) == 0 { note += oldSignatures }
        bytes = note.count <= maxSize ? note : Array(note.prefix(maxSize))
    }

    /// The index of the first LF of the last blank line, where a note's text ends.
    static func lastBlankLine(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        var index = bytes.count - 2
        while index >= 0 {
            if bytes[index] == 0x0A && bytes[index + 1] == 0x0A { return index }
            index -= 1
        }
        return nil
    }

    /// `— fuzz BASE64(key ID || signature)` over `text`, by the fixed test key.
    static func signatureLine(_ text: [UInt8]) -> [UInt8] {
        guard let signature = try? FuzzKeys.signing.privateKey.sign(text) else { return [] }
        let id = FuzzKeys.noteVerifier.keyID
        let idBytes = [UInt8(id >> 24), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)]
        return Array("\u{2014} \(FuzzKeys.signing.identity.name) \(Base64.encode(idBytes + signature))\n".utf8)
    }
}
