#if canImport(Glibc)
import Glibc
#endif

/// How `custody seal` stores and describes items.
public struct SealOptions: Sendable {
    public var chunkSize = TreeChunkSize.default
    public var level = EvidencePacker.defaultLevel
    /// Store content packed (custody gzip) or raw.
    public var compress = true
    /// Linear digests of each item's content (sha256 always included).
    public var linearDigests: [DigestAlgorithm] = [.sha256]
    public var readers = 1
    /// Read retries before an unreadable range is narrowed to sectors and zero-filled.
    public var readRetries = 3
    /// Apply the bad-sector policy (retry, narrow, zero-fill, record) to regular files too, not only to block
    /// devices: for images kept on failing media. Otherwise a file read error fails the seal.
    public var tolerateFileReadErrors = false
    /// Wraps each item's reader (fault injection in tests; the real reader is passed in).
    public var wrapReader: (@Sendable (ChunkReader) -> ChunkReader)?
    public var caseNumber: String?
    public var evidenceNumber: String?
    public var examiner: String?
    public var itemDescription: String?
    public var notes: String?
    public var conditions = Conditions()
    /// Called with (item path, bytes done) while an item is read.
    public var progress: (@Sendable (String, UInt64) -> Void)?
    public var shouldStop: (@Sendable () -> Bool)?

    public init() {}
}

/// What a seal produced.
public struct SealResult: Sendable {
    public var bundleID: String
    public var path: String
    public var items: [ItemRecord]
    /// Ledger sequence numbers of the entries the seal appended.
    public var entries: [UInt64]
    /// The checkpoint's tree size.
    public var checkpointSize: UInt64
    /// Links and special files met inside input directories and left out (also in the seal entry's details).
    public var skipped: [String] = []
}

/// The statement the sealing officer signs (`custody/seal.txt`, a C2SP signed note):
///
/// ```
/// custody seal v1
/// bundle urn:uuid:...
/// tagmanifest-sha256 HEX
/// item 1 urn:uuid:... TREE-SHA256-1M HEX size N
/// ```
public struct SealStatement: Sendable, Equatable {
    public static let header = "custody seal v1"
    public var bundleID: String
    /// SHA-256 of tagmanifest-sha256.txt without the seal's own line.
    public var tagManifestDigest: [UInt8]
    public var items: [(number: Int, id: String, chunkSize: Int, tree: String, size: UInt64)]

    public init(bundleID: String, tagManifestDigest: [UInt8],
                items: [(number: Int, id: String, chunkSize: Int, tree: String, size: UInt64)]) {
        self.bundleID = bundleID
        self.tagManifestDigest = tagManifestDigest
        self.items = items
    }

    public var text: String {
        var lines = [SealStatement.header, "bundle \(bundleID)", "tagmanifest-sha256 \(Hex.encode(tagManifestDigest))"]
        for item in items {
            lines.append("item \(item.number) \(item.id) \(TreeChunkSize.digestName(item.chunkSize)) \(item.tree) "
                + "size \(item.size)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses a statement, naming the first line that does not fit.
    public init(text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count >= 3, lines[0] == SealStatement.header else {
            throw CustodyError.verification("seal: first line is not '\(SealStatement.header)'")
        }
        guard lines[1].hasPrefix("bundle "), lines[2].hasPrefix("tagmanifest-sha256 "),
              let digest = Hex.decode(lines[2].dropFirst("tagmanifest-sha256 ".count)), digest.count == 32 else {
            throw CustodyError.verification("seal: lines 2-3 must be 'bundle ID' and 'tagmanifest-sha256 HEX'")
        }
        bundleID = String(lines[1].dropFirst("bundle ".count))
        tagManifestDigest = digest
        items = []
        for (offset, line) in lines.enumerated().dropFirst(3) {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 7, fields[0] == "item", let number = Int(fields[1]),
                  fields[3].hasPrefix("TREE-SHA256-"), let chunk = ByteSize.parse(String(fields[3].dropFirst(12))),
                  let chunkSize = try? TreeChunkSize.validate(chunk), Hash32(hex: fields[4]) != nil,
                  fields[5] == "size", let size = UInt64(fields[6]) else {
                throw CustodyError.verification("seal: line \(offset + 1) is not 'item N ID TREE-SHA256-S HEX size N'")
            }
            items.append((number, fields[2], chunkSize, fields[4], size))
        }
    }

    public static func == (lhs: SealStatement, rhs: SealStatement) -> Bool { lhs.text == rhs.text }
}

/// Seals inputs into a bundle: packs and hashes each item in one read, records `acquire` and `seal` entries in
/// the ledger, writes the BagIt bag with the custody tag files, and signs the seal.
public enum BundleSealer {
    /// Lists the items `paths` name: files and block devices as they are, the regular files inside directories.
    /// Symbolic links and special files met inside directories are not followed; they are listed in `skipped`.
    /// Any other input (standard input, a FIFO, a character device) is refused.
    public static func items(_ paths: [String], skipped: inout [String]) throws -> [(input: HashInput, name: String)] {
        var problems: [String] = []
        var notes: [String] = []
        var result: [(HashInput, String)] = []
        for path in paths {
            let found = InputHasher.enumerate([path], recursive: true, followSymlinks: false) { message, isError in
                if isError { problems.append(message) } else { notes.append(message) }
            }
            for input in found {
                if input.kind == .stream {
                    problems.append("\(input.path): seal reads files, directories and block devices, not standard "
                        + "input, FIFOs or character devices")
                    continue
                }
                let base = path.split(separator: "/").last.map(String.init) ?? path
                var name = input.path
                if input.path != path {
                    name = base + "/" + String(input.path.dropFirst(path.count).drop { $0 == "/" })
                } else {
                    name = base
                }
                result.append((input, name))
            }
        }
        if let first = problems.first { throw CustodyError.operational(first) }
        guard !result.isEmpty else {
            throw CustodyError.operational("no files to seal in \(paths.joined(separator: ", "))")
        }
        skipped += notes
        return result
    }

    public static func seal(paths: [String], out: String, ledger: Ledger, key: SigningKey,
                            options: SealOptions) throws -> SealResult {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw CustodyError.operational("the key '\(key.identity.name)' does not own the ledger (owner: "
                + "\(ledger.owner.name)); seal with the ledger owner's key")
        }
        var skipped: [String] = []
        let inputs = try items(paths, skipped: &skipped)
        let writer = try BundleWriter(out: out)
        let bundleID = Identifier.urn()
        var linear = options.linearDigests
        if !linear.contains(.sha256) { linear.append(.sha256) }
        linear.sort()
        var records: [ItemRecord] = []
        var drafts: [LedgerEntryDraft] = []
        let legalBasis = options.conditions.legalBasis ?? ""
        for (offset, item) in inputs.enumerated() {
            let number = offset + 1
            let record = try sealItem(item.input, name: item.name, number: number, writer: writer, linear: linear,
                                      options: options)
            records.append(record)
            drafts.append(try LedgerEntryDraft(
                action: .acquire,
                subjects: [try subject(for: record)],
                legalBasis: legalBasis,
                details: acquireDetails(record, bundleID: bundleID)))
        }
        let itemsJSON = JSONValue.object(["bundle": .string(bundleID), "items": .array(records.map(\.json))])
        try writer.writeTagFile(BundleLayout.items, itemsJSON.canonicalBytes + [10])
        try writer.writeTagFile(BundleLayout.conditions, options.conditions.json.canonicalBytes + [10])
        let manifestDigest = writer.payloadManifestSHA256()
        drafts.append(try LedgerEntryDraft(
            action: .seal,
            subjects: [try LedgerSubject(id: bundleID,
                                         attributes: ["manifest-sha256": .string(Hex.encode(manifestDigest))])]
                + records.map { try subject(for: $0) },
            legalBasis: legalBasis,
            details: sealDetails(bundleID: bundleID, count: records.count, skipped: skipped, options: options)))
        let entries = try ledger.appendBatch(drafts, key: key)
        let checkpoint = try ledger.makeCheckpoint(key: key)
        let checkpointBody = try Checkpoint.open(checkpoint.bytes, keys: [key.identity.verifierKey])
        var excerpt: [UInt8] = []
        var proofs: [JSONValue] = []
        for entry in entries {
            excerpt += entry.bytes + [10]
            proofs.append(try ledger.inclusionProof(index: entry.sequence, size: checkpointBody.size).json)
        }
        try writer.writeTagFile(BundleLayout.ledgerExcerpt, excerpt)
        try writer.writeTagFile(BundleLayout.proofs, JSONValue.array(proofs).canonicalBytes + [10])
        try writer.writeTagFile(BundleLayout.checkpoint, checkpoint.bytes)
        let identityDocument = try key.identity.document(signedWith: key.privateKey)
        try writer.writeTagFile(BundleLayout.identities, identityDocument)
        let bagInfo = makeBagInfo(bundleID: bundleID, key: key, records: records, options: options,
                                  oxum: writer.payloadOxum)
        let tagManifest = try writer.writeManifests(bagInfo: bagInfo)
        let statement = SealStatement(
            bundleID: bundleID, tagManifestDigest: tagManifest.digest,
            items: records.map { ($0.number, $0.id, $0.chunkSize, $0.tree, $0.size) })
        let note = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        try writer.finish(seal: note.bytes)
        return SealResult(bundleID: bundleID, path: writer.finalPath, items: records,
                          entries: entries.map(\.sequence), checkpointSize: checkpointBody.size, skipped: skipped)
    }

    static func sealDetails(bundleID: String, count: Int, skipped: [String],
                            options: SealOptions) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "bundle": .string(bundleID), "items": .int(Int64(count)),
            "case": .string(options.caseNumber ?? options.conditions.caseID ?? ""),
        ]
        if !skipped.isEmpty { details["skipped"] = .array(skipped.map { .string($0) }) }
        return details
    }

    static func subject(for record: ItemRecord) throws -> LedgerSubject {
        var attributes: [String: JSONValue] = [
            "tree": .string(record.tree), "chunk-size": .int(Int64(record.chunkSize)), "size": .int(Int64(record.size)),
        ]
        for (name, hex) in record.digests { attributes[name] = .string(hex) }
        return try LedgerSubject(id: record.id, attributes: attributes)
    }

    static func acquireDetails(_ record: ItemRecord, bundleID: String) -> [String: JSONValue] {
        var details: [String: JSONValue] = [
            "bundle": .string(bundleID), "item": .int(Int64(record.number)), "name": .string(record.originalName),
            "source": .object(record.source), "started": .string(record.acquisitionStart),
            "finished": .string(record.acquisitionEnd), "tool": .string(record.tool),
        ]
        if !record.badRanges.isEmpty { details["badRanges"] = .array(record.badRanges) }
        return details
    }

    private static func sealItem(_ input: HashInput, name: String, number: Int, writer: BundleWriter,
                                 linear: [DigestAlgorithm], options: SealOptions) throws -> ItemRecord {
        let id = Identifier.urn()
        let safeName = BagIt.safeFileName(name)
        let numberText = String(repeating: "0", count: max(0, 4 - String(number).count)) + String(number)
        let payload = "\(BundleLayout.payloadDirectory)/\(numberText)-\(safeName)" + (options.compress ? ".gz" : "")
        let leavesPath = "\(BundleLayout.leavesDirectory)/\(numberText).bin"
        let started = Timestamp.now()
        let descriptor = try FileDescriptor.openForReading(input.path)
        defer { descriptor.close() }
        let size = try InputHasher.currentSize(of: descriptor, kind: input.kind)
        var source = try SourceDescription.describe(descriptor)
        let badSectors = BadSectorLog()
        let base: ChunkReader = FileChunkReader(descriptor: descriptor, size: size)
        let wrapped = options.wrapReader?(base) ?? base
        let reader: ChunkReader = input.kind == .blockDevice || options.tolerateFileReadErrors
            ? ResilientReader(wrapped, policy: ReadPolicy(retries: options.readRetries,
                                                          sectorSize: source.logicalSectorSize),
                              log: badSectors, shouldStop: options.shouldStop)
            : wrapped
        let output = try writer.createPayload(payload)
        var packer = EvidencePacker(level: options.compress ? options.level : 0, chunkSize: options.chunkSize,
                                    linearDigests: linear)
        packer.packedDigests = BundleLayout.payloadManifests
        packer.readers = options.readers
        packer.shouldStop = options.shouldStop
        if let report = options.progress { packer.progress = { report(input.path, $0) } }
        let result: PackResult
        do {
            if options.compress {
                result = try packer.pack(reader, to: output)
            } else {
                result = try copyRaw(reader, to: output, linear: linear, options: options, input: input)
            }
            try output.sync()
            output.close()
        } catch {
            output.close()
            throw error
        }
        if input.kind == .regularFile, let size {
            let after = try InputHasher.currentSize(of: descriptor, kind: input.kind) ?? size
            if after != size || result.size != size {
                throw CustodyError.operational("\(input.path): changed size while being sealed (\(size) bytes at "
                    + "start, \(after) at end, \(result.size) read); seal it again once it is stable")
            }
        }
        source.size = result.size
        writer.recordPayload(payload, size: result.packedSize, digests: result.packedDigests)
        var leafBytes: [UInt8] = []
        leafBytes.reserveCapacity(result.leaves.count * 32)
        for leaf in result.leaves { leaf.withBytes { leafBytes.append(contentsOf: $0) } }
        try writer.writeTagFile(leavesPath, leafBytes)
        var digests: [String: String] = [:]
        for (algorithm, value) in result.digests { digests[algorithm.rawValue] = Hex.encode(value) }
        return ItemRecord(
            id: id, number: number, payloadPath: payload, encoding: options.compress ? .gzip : .raw,
            originalName: name, size: result.size, storedSize: result.packedSize, chunkSize: result.chunkSize,
            tree: result.treeRoot.hex, digests: digests, leavesPath: leavesPath,
            source: source.json.objectValue ?? [:], acquisitionStart: started.description,
            acquisitionEnd: Timestamp.now().description, tool: "custody \(CustodyVersion.string)",
            caseNumber: options.caseNumber ?? options.conditions.caseID, evidenceNumber: options.evidenceNumber,
            examiner: options.examiner, itemDescription: options.itemDescription, notes: options.notes,
            badRanges: badSectors.ranges.map(\.json))
    }

    /// Copies content unchanged while computing the same digests as packing.
    private static func copyRaw(_ reader: ChunkReader, to output: FileDescriptor, linear: [DigestAlgorithm],
                                options: SealOptions, input: HashInput) throws -> PackResult {
        let packedExtra = BundleLayout.payloadManifests.filter { !linear.contains($0) }
        var pipeline = ChunkPipeline(chunkSize: options.chunkSize, linearDigests: linear + packedExtra,
                                     keepLeaves: true, readers: options.readers)
        pipeline.shouldStop = options.shouldStop
        if let report = options.progress { pipeline.progress = { report(input.path, $0) } }
        let result = try pipeline.run(reader, parallel: { _ in () }, ordered: { chunk, _ in
            try output.writeAll(chunk.bytes)
        })
        var contentDigests: [DigestAlgorithm: [UInt8]] = [:]
        for algorithm in linear { contentDigests[algorithm] = result.digests[algorithm] }
        var stored: [DigestAlgorithm: [UInt8]] = [:]
        for algorithm in BundleLayout.payloadManifests { stored[algorithm] = result.digests[algorithm] }
        return PackResult(size: result.size, packedSize: result.size, chunkSize: result.chunkSize,
                          chunkCount: result.chunkCount, treeRoot: result.treeRoot ?? Merkle.emptyRoot,
                          leaves: result.leaves, digests: contentDigests, packedDigests: stored, storedChunks: 0,
                          zeroChunks: 0)
    }

    static func makeBagInfo(bundleID: String, key: SigningKey, records: [ItemRecord], options: SealOptions,
                            oxum: String) -> [(label: String, value: String)] {
        var fields: [(label: String, value: String)] = [
            ("Source-Organization", key.identity.agency),
            ("Contact-Name", options.examiner ?? key.identity.name),
            ("External-Identifier", bundleID),
            ("Bagging-Date", Timestamp.now().dateString),
            ("Payload-Oxum", oxum),
            ("Bag-Software-Agent", "custody \(CustodyVersion.string)"),
            ("Custody-Jurisdiction", key.identity.jurisdiction),
            ("Custody-Sealed-By", "\(key.identity.name) (key \(key.identity.keyIDHex))"),
            ("Custody-Item-Count", String(records.count)),
        ]
        if let caseNumber = options.caseNumber ?? options.conditions.caseID {
            fields.append(("Custody-Case", caseNumber))
        }
        if let evidence = options.evidenceNumber { fields.append(("Custody-Evidence-Number", evidence)) }
        if let legal = options.conditions.legalBasis { fields.append(("Custody-Legal-Basis", legal)) }
        if let description = options.itemDescription { fields.append(("External-Description", description)) }
        return fields
    }
}
