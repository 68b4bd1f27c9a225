import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

extension CaseExport {
    /// A stand-in for a list of objects written as a stream (never a value custody writes otherwise).
    static let streamedObjects = "custody-streamed-objects-7f3a1c"

    /// The IRI of record `number` of the collection bundle `bundleKey`.
    static func recordIRI(_ bundleKey: String, _ number: Int) -> String { iri("file", "\(bundleKey)#\(number)") }

    /// Writes a collection bundle's CASE/UCO graph to `out` as a stream (SPEC section 8.2): the same document as
    /// `document(summary:verification:history:)` gives, with one `uco-observable:File` per item record (a
    /// `FileFacet` with its path, name, extension, size, times and whether it is a directory; a `ContentDataFacet`
    /// with its hashes for a stored file or a further name of one) written first, and the bundle's and the
    /// investigation's `uco-core:object` lists naming every record streamed in. Returns what was read.
    public static func writeCollection(bundle: String, summary: BundleSummary, verification: Verification,
                                       history: CustodyHistory? = nil,
                                       to out: StreamedText) throws -> CollectionRecordStream.Outcome {
        let bundleKey = summary.bundleID ?? "unidentified"
        try out.write("{\n  \"@context\": ")
        var bytes: [UInt8] = []
        JSONValue.object(context).writePretty(into: &bytes, indent: 1)
        try out.write(bytes)
        try out.write(",\n  \"@graph\": [")
        var first = true
        func node(_ value: JSONValue) throws {
            var bytes: [UInt8] = Array((first ? "\n    " : ",\n    ").utf8)
            first = false
            value.writePretty(into: &bytes, indent: 2)
            try out.write(bytes)
        }
        var linked = LinkedContent()
        let outcome = try CollectionRecordStream(bundle: bundle, summary: summary).forEach { record in
            linked.note(record)
            try node(recordNode(record, content: linked.content(of: record), bundleKey: bundleKey))
        }
        let count = outcome.records
        guard case .array(let nodes)? = document(summary: summary, verification: verification,
                                                 history: history)["@graph"] else { return outcome }
        for value in nodes {
            guard case .object(var members) = value, let type = members["@type"]?.stringValue,
                  let objects = members["uco-core:object"]?.arrayValue,
                  type == "case-investigation:Investigation"
                    || members["@id"]?.stringValue == iri("provenance-record", "bundle:" + bundleKey) else {
                try node(value)
                continue
            }
            // The bundle lists the records; the investigation the bundle, the records, then the actions.
            let before = type == "case-investigation:Investigation" ? Array(objects.prefix(1)) : []
            let after = type == "case-investigation:Investigation" ? Array(objects.dropFirst()) : []
            members["uco-core:object"] = .string(streamedObjects)
            var text: [UInt8] = Array((first ? "\n    " : ",\n    ").utf8)
            first = false
            JSONValue.object(members).writePretty(into: &text, indent: 2)
            let marker = JSONValue.string(streamedObjects).canonicalBytes
            guard let cut = text.firstRange(of: marker) else { continue }
            try out.write(text[..<cut.lowerBound])
            try writeObjects(before: before, records: count, bundleKey: bundleKey, after: after, to: out)
            try out.write(text[cut.upperBound...])
        }
        try out.write("\n  ]\n}\n")
        try out.flush()
        return outcome
    }

    /// A `uco-core:object` array of a node at indent 2: `before`, the records' IRIs, `after`.
    static func writeObjects(before: [JSONValue], records: Int, bundleKey: String, after: [JSONValue],
                             to out: StreamedText) throws {
        guard !before.isEmpty || records > 0 || !after.isEmpty else {
            try out.write("[]")
            return
        }
        try out.write("[")
        var first = true
        func element(_ value: JSONValue) throws {
            var bytes: [UInt8] = Array((first ? "\n        " : ",\n        ").utf8)
            first = false
            value.writePretty(into: &bytes, indent: 4)
            try out.write(bytes)
        }
        for value in before { try element(value) }
        if records > 0 {
            for number in 1...records { try element(reference(recordIRI(bundleKey, number))) }
        }
        for value in after { try element(value) }
        try out.write("\n      ]")
    }

    /// One item record as a `uco-observable:File`.
    static func recordNode(_ record: CollectionRecord, content: CollectionRecord.Content?,
                           bundleKey: String) -> JSONValue {
        let file = recordIRI(bundleKey, record.number)
        let key = "\(bundleKey)#\(record.number)"
        let path = record.displayPath
        let baseName = path.split(separator: "/").last.map(String.init) ?? path
        var fileFacet: [String: JSONValue] = [
            "@id": .string(iri("file-facet", key)), "@type": .string("uco-observable:FileFacet"),
            "uco-observable:fileName": .string(baseName),
            "uco-observable:filePath": .string(path),
            "uco-observable:isDirectory": .bool(record.kind == .directory),
        ]
        if let dot = baseName.lastIndex(of: "."), dot != baseName.startIndex,
           baseName.index(after: dot) != baseName.endIndex, record.kind != .directory {
            fileFacet["uco-observable:extension"] = .string(String(baseName[baseName.index(after: dot)...]))
        }
        if let content { fileFacet["uco-observable:sizeInBytes"] = .int(Int64(content.size)) }
        var node: [String: JSONValue] = [
            "@id": .string(file), "@type": .string("uco-observable:File"),
            "uco-core:name": .string(path),
            "custody:itemNumber": .int(Int64(record.number)),
            "custody:itemKind": .string(record.kind.rawValue),
        ]
        if let metadata = record.metadata {
            fileFacet["uco-observable:modifiedTime"] = typed("xsd:dateTime", metadata.modified)
            fileFacet["uco-observable:accessedTime"] = typed("xsd:dateTime", metadata.accessed)
            fileFacet["uco-observable:metadataChangeTime"] = typed("xsd:dateTime", metadata.changed)
            if let born = metadata.born {
                fileFacet["uco-observable:observableCreatedTime"] = typed("xsd:dateTime", born)
            }
            node["custody:mode"] = .int(Int64(metadata.mode))
            node["custody:uid"] = .int(Int64(metadata.uid))
            node["custody:gid"] = .int(Int64(metadata.gid))
            node["custody:inode"] = .string(String(metadata.inode))
            node["custody:links"] = .int(Int64(metadata.links))
        }
        var facets: [JSONValue] = [.object(fileFacet)]
        if let content {
            var hashes: [JSONValue] = []
            for name in content.digests.keys.sorted() {
                guard let method = hashNames[name], let value = content.digests[name] else { continue }
                hashes.append(.object([
                    "@id": .string(iri("hash", "\(key):\(name)")), "@type": .string("uco-types:Hash"),
                    "uco-types:hashMethod": .string(method),
                    "uco-types:hashValue": typed("xsd:hexBinary", value),
                ]))
            }
            facets.append(.object([
                "@id": .string(iri("content-data-facet", key)), "@type": .string("uco-observable:ContentDataFacet"),
                "uco-observable:sizeInBytes": .int(Int64(content.size)),
                "uco-observable:hash": .array(hashes),
                "custody:treeDigestName": .string(TreeChunkSize.digestName(content.chunkSize)),
                "custody:treeDigest": .string(content.tree),
            ]))
        }
        node["uco-core:hasFacet"] = .array(facets)
        var description = ["item \(record.number) of collection bundle \(bundleKey): \(record.kind.rawValue)"]
        if let target = record.target {
            description.append("symbolic link to \(Printable.escapingControls(RawName.decode(target)))")
        }
        if let first = record.linkTo {
            description.append("hard link to \(Printable.escapingControls(RawName.decode(first)))")
        }
        if let error = record.error { description.append("acquisition error: \(error)") }
        node["uco-core:description"] = .string(description.joined(separator: "; "))
        return .object(node)
    }
}
