import CustodyKit

extension FuzzTarget {
    /// `bagit.txt`: read as the verifier reads it (label lines), then compared with the declaration.
    static let bagitDeclaration = FuzzTarget(
        name: "bagit-declaration", summary: "BagIt.parseBagInfo on bagit.txt, and the declaration check"
    ) { bytes in
        let fields = try? BagIt.parseBagInfo(bytes, name: "bagit.txt")
        if String(decoding: bytes, as: UTF8.self) == BagIt.declaration, fields?.count != 2 {
            fuzzFailure("the BagIt declaration itself does not read as two fields")
        }
    }

    /// `bag-info.txt`: labels, values, continuation lines; what parses must write back and parse the same.
    static let bagInfo = FuzzTarget(name: "bag-info", summary: "BagIt.parseBagInfo: bag-info.txt") { bytes in
        guard let fields = try? BagIt.parseBagInfo(bytes, name: "bag-info.txt") else { return }
        let again = try? BagIt.parseBagInfo(Array(BagIt.bagInfo(fields).utf8), name: "rewritten")
        if again.map({ $0.map { "\($0.label)\u{0}\($0.value)" } }) != fields.map({ "\($0.label)\u{0}\($0.value)" }) {
            fuzzFailure("bag-info fields change when written back and read")
        }
    }

    /// Payload manifests (`manifest-sha256.txt`): digest, space, percent-encoded path.
    static let bagitManifest = FuzzTarget(
        name: "bagit-manifest", summary: "BagIt.parseManifest: manifest-sha256.txt, and the paths' safety check"
    ) { bytes in
        manifest(bytes, name: "manifest-sha256.txt", algorithm: .sha256)
    }

    /// Tag manifests (`tagmanifest-sha512.txt`): the same parser with the other digest length.
    static let bagitTagManifest = FuzzTarget(
        name: "bagit-tagmanifest", summary: "BagIt.parseManifest: tagmanifest-sha512.txt"
    ) { bytes in
        manifest(bytes, name: "tagmanifest-sha512.txt", algorithm: .sha512)
    }

    private static func manifest(_ bytes: [UInt8], name: String, algorithm: DigestAlgorithm) {
        guard let entries = try? BagIt.parseManifest(bytes, name: name, algorithm: algorithm) else { return }
        for entry in entries {
            _ = try? BagIt.safeComponents(entry.path)
            let again = BagIt.decodePath(BagIt.encodePath(entry.path))
            if again != entry.path { fuzzFailure("a manifest path does not survive encoding and decoding") }
        }
    }

    /// `custody/items.json`: the object, its `items` array and each item record, read as the verifier reads them.
    static let itemsJSON = FuzzTarget(name: "items-json", summary: "ItemRecord(json:where:): custody/items.json") {
        bytes in
        guard let json = try? JSONValue.parse(bytes), let list = json["items"]?.arrayValue else { return }
        _ = json["bundle"]?.stringValue
        for (index, item) in list.enumerated() {
            guard let record = try? ItemRecord(json: item, where: "items.json item \(index + 1)") else { continue }
            _ = try? BagIt.safeComponents(record.payloadPath)
            _ = try? BagIt.safeComponents(record.leavesPath)
            guard let again = try? ItemRecord(json: record.json, where: "rewritten") else {
                fuzzFailure("an item record that parsed does not parse once written back")
            }
            if again.json != record.json { fuzzFailure("an item record changes when written back and read") }
        }
    }

    /// `custody/conditions.json`.
    static let conditionsJSON = FuzzTarget(
        name: "conditions-json", summary: "Conditions(json:source:): custody/conditions.json"
    ) { bytes in
        guard let json = try? JSONValue.parse(bytes), let conditions = try? Conditions(json: json, source: "c")
        else { return }
        guard let again = try? Conditions(json: conditions.json, source: "rewritten"), again == conditions else {
            fuzzFailure("conditions change when written back and read")
        }
    }
}
