import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What to disclose and to whom (`custody disclose`, SPEC.md section 5.14).
public struct DisclosureRequest: Sendable {
    /// Items to disclose whole: original paths as sealed, or `fnmatch(3)` globs (`*` also matches `/`).
    public var items: [String] = []
    /// Ranges `PATH:START-END` (content byte offsets, inclusive); PATH may be a glob.
    public var ranges: [String] = []
    /// Who receives the disclosure (a trust store name with agency and jurisdiction, or an age recipient).
    public var recipient = ""
    /// The legal basis of the disclosure.
    public var legalBasis = ""
    /// The mutual legal assistance request's reference.
    public var mlaReference = ""
    /// Trusted keys, to check the source's signers (the source must verify either way).
    public var trust: TrustStore?

    /// An empty request.
    public init() {}
}

/// What `Discloser.disclose` made.
public struct DisclosureResult: Sendable {
    /// The disclosure bundle.
    public var path: String
    /// The signed statement's fields.
    public var statement: DisclosureStatement
    /// Stored payload bytes written.
    public var payloadBytes: UInt64
    /// The `disclose` entry appended to the discloser's ledger.
    public var entry: LedgerEntry
    /// The size of the discloser's checkpoint the entry is proven in.
    public var checkpointSize: UInt64
    /// The checks made of the source before anything was written.
    public var sourceChecks: [VerificationCheck]
}

/// Makes a disclosure: a bag holding chosen items of a sealed collection bundle (or of a disclosure), whole or in
/// chunk-aligned ranges, with the proofs that lead each disclosed byte to the original seal, and the discloser's
/// signed statement, recorded in the discloser's ledger. Reads the source's tag files, its records file (twice,
/// as a stream) and the disclosed payloads only.
public enum Discloser {
    /// One disclosed item as the source holds it.
    struct SourceItem {
        var record: CollectionRecord
        var proof: [Hash32]
        /// Chunks the source holds with their proofs into the item's tree digest; nil when it holds them all.
        var heldChunks: [UInt64: [Hash32]]?
        /// The source's payload file (absolute), for an item with content.
        var payloadFile: String?
        /// The source payload's manifest digests (original source only).
        var manifest: [DigestAlgorithm: [UInt8]] = [:]
    }

    /// Everything of the source a disclosure carries on.
    struct Source {
        var bundleID: String
        var seal: [UInt8]
        var checkpoint: [UInt8]
        var sealEntry: [UInt8]
        var sealProof: [UInt8]
        var identities: [UInt8]
        var itemCount: UInt64
        var itemsRoot: Hash32
        var previous: Hash32?
        var root: String
        var isDisclosure: Bool
        /// Leaves of the original's multi-chunk files, read from `leaves.bin` on demand.
        var leavesFile: String?
    }

    /// A parsed `--range`.
    struct RangeRequest {
        var pattern: String
        var range: ClosedRange<UInt64>
        var used = false
    }

    /// Discloses `request`'s selection of `bundle` into a new bag at `out`, signed with `key` and recorded in
    /// `ledger` (which `key` must own). Nothing is written, and the ledger is unchanged, when the selection is
    /// bad or the source does not verify.
    public static func disclose(bundle: String, out: String, request: DisclosureRequest, ledger: Ledger,
                                key: SigningKey) throws -> DisclosureResult {
        guard key.identity.publicKey == ledger.owner.publicKey else {
            throw DisclosureError.keyDoesNotOwnLedger(key: key.identity.name, owner: ledger.owner.name)
        }
        for (field, text) in [("--to", request.recipient), ("--legal-basis", request.legalBasis),
                              ("--mla-ref", request.mlaReference)] where !DisclosureStatement.isOneLine(text) {
            throw DisclosureError.fieldNotOneLine(field: field)
        }
        guard FileSystem.exists(bundle + "/" + BundleLayout.declaration) else {
            throw DisclosureError.imageBundleUnsupported(bundle: bundle)
        }
        guard !FileSystem.exists(out) else { throw SealError.bundleExists(path: out) }
        let work = BundleWriter.workPath(for: out).work
        guard !FileSystem.exists(work) else {
            throw DisclosureError.interruptedDisclosureExists(out: out, workPath: work)
        }
        var ranges = try request.ranges.map(parseRange)
        guard !request.items.isEmpty || !ranges.isEmpty else { throw DisclosureError.emptySelection }
        var itemUsed = [Bool](repeating: false, count: request.items.count)
        let verifier = BundleVerifier(root: bundle, trust: request.trust)
        var report = VerificationReport()
        var source: Source
        var selected: [(item: SourceItem, whole: Bool, ranges: [ClosedRange<UInt64>])] = []
        func select(_ item: SourceItem) {
            let path = item.record.path
            var whole = false
            for (index, pattern) in request.items.enumerated() where matches(pattern, path) {
                itemUsed[index] = true
                whole = true
            }
            var chosen: [ClosedRange<UInt64>] = []
            for index in ranges.indices where matches(ranges[index].pattern, path) && item.record.content != nil {
                ranges[index].used = true
                chosen.append(ranges[index].range)
            }
            if whole || !chosen.isEmpty { selected.append((item, whole, chosen)) }
        }
        if FileSystem.exists(bundle + "/" + BundleLayout.disclosureStatement) {
            guard let contents = verifier.verifyDisclosure(report: &report) else {
                throw sourceFailure(bundle, report)
            }
            try requirePassed(bundle, report)
            source = Source(bundleID: contents.statement.bundleID, seal: contents.seal,
                            checkpoint: contents.checkpoint, sealEntry: contents.sealEntry,
                            sealProof: contents.sealProof, identities: contents.identities,
                            itemCount: contents.statement.itemCount, itemsRoot: contents.statement.itemsRoot,
                            previous: Hash32(Digester.digest(.sha256, contents.statementBytes)), root: bundle,
                            isDisclosure: true, leavesFile: nil)
            for held in contents.records {
                select(SourceItem(record: held.record, proof: held.proof, heldChunks: held.chunks,
                                  payloadFile: held.record.content.map { bundle + "/" + $0.payload }))
            }
        } else if BundleVerifier.isCollection(bundle) {
            (source, report) = try checkOriginal(bundle, verifier: verifier)
            try requirePassed(bundle, report)
            // One streaming pass: every line is hashed (the root must be the sealed one); only lines that may be
            // chosen are parsed (for literal paths, those holding the path's JSON string; any line for a glob).
            let literals = request.items + ranges.map(\.pattern)
            let parsesAll = literals.contains { $0.contains(where: { "*?[".contains($0) }) }
            let needles = literals.map { JSONValue.string($0).canonicalBytes }
            let descriptor = try BagTree.openRegular(bundle + "/" + BundleLayout.itemRecords)
            defer { descriptor.close() }
            var lines = LineReader(descriptor, maximumLength: ItemRecordsReader.maximumLineLength)
            var accumulator = MerkleAccumulator()
            var count = 0
            while let line = try lines.next() {
                count += 1
                accumulator.append(Merkle.leafHash(line))
                if !parsesAll, let field = line.recordPathField(), !field.is64,
                   !needles.contains(where: { line.has($0, at: field.valueStart) }) {
                    continue
                }
                let record = try CollectionRecord(line: line, where: "\(BundleLayout.itemRecords):\(count)")
                guard record.number == count else {
                    throw DisclosureError.sourceDoesNotVerify(bundle: bundle, check: "items",
                                                              detail: "record \(count) is numbered \(record.number)")
                }
                select(SourceItem(record: record, proof: [], heldChunks: nil,
                                  payloadFile: record.content.map { bundle + "/" + $0.payload }))
            }
            guard UInt64(count) == source.itemCount, accumulator.root == source.itemsRoot else {
                throw DisclosureError.sourceDoesNotVerify(
                    bundle: bundle, check: "items root", detail: "\(BundleLayout.itemRecords) holds \(count) "
                        + "records with root \(accumulator.root.hex); the seal commits to \(source.itemCount) with "
                        + "root \(source.itemsRoot.hex)")
            }
            try findManifestLines(&selected, bundle: bundle)
        } else {
            throw DisclosureError.imageBundleUnsupported(bundle: bundle)
        }
        if let unused = itemUsed.firstIndex(of: false) {
            throw DisclosureError.itemNotFound(pattern: request.items[unused], bundle: bundle)
        }
        if let unused = ranges.first(where: { !$0.used }) {
            throw DisclosureError.rangeItemNotFound(pattern: unused.pattern, bundle: bundle)
        }
        // Bad ranges are refused before anything is read or written.
        var chosen: [(item: SourceItem, extent: DisclosureStatement.Extent)] = []
        for entry in selected {
            let path = entry.item.record.displayPath
            if entry.whole {
                if let range = entry.ranges.first {
                    throw DisclosureError.rangesOverlap(path: path, first: "--item (the whole item)",
                                                        second: "--range \(range.lowerBound)-\(range.upperBound)")
                }
                if entry.item.heldChunks != nil {
                    throw DisclosureError.rangeNotHeld(path: path, start: 0, end: entry.item.record.content!.size)
                }
                chosen.append((entry.item, .whole))
                continue
            }
            let content = entry.item.record.content!
            let sorted = entry.ranges.sorted { $0.lowerBound < $1.lowerBound }
            for range in sorted where range.upperBound >= content.size {
                throw DisclosureError.rangeBeyondEnd(path: path, start: range.lowerBound, end: range.upperBound,
                                                     size: content.size)
            }
            for (first, second) in zip(sorted, sorted.dropFirst()) where second.lowerBound <= first.upperBound {
                throw DisclosureError.rangesOverlap(path: path, first: "\(first.lowerBound)-\(first.upperBound)",
                                                    second: "\(second.lowerBound)-\(second.upperBound)")
            }
            if let held = entry.item.heldChunks {
                for range in sorted {
                    let needed = DisclosureChunks.covering([range], chunkSize: content.chunkSize)
                    if needed.contains(where: { held[$0] == nil }) {
                        throw DisclosureError.rangeNotHeld(path: path, start: range.lowerBound, end: range.upperBound)
                    }
                }
            }
            chosen.append((entry.item, .ranges(sorted)))
        }
        if !source.isDisclosure {
            try proveRecords(&chosen, source: source)
        }
        let statement = DisclosureStatement(
            bundleID: source.bundleID, sealDigest: Hash32(Digester.digest(.sha256, source.seal))!,
            itemCount: source.itemCount, itemsRoot: source.itemsRoot, previous: source.previous,
            items: chosen.map { (UInt64($0.item.record.number), $0.extent) }, recipient: request.recipient,
            legalBasis: request.legalBasis, mlaReference: request.mlaReference, time: Timestamp.now())
        let writer = try BundleWriter(out: out, collection: true)
        writer.discardOnFailure()
        let payloadBytes = try writePayloads(chosen, source: source, writer: writer)
        try writeTagFiles(chosen, source: source, statement: statement, key: key, writer: writer)
        let statementNote = try SignedNote.sign(text: statement.text, name: key.identity.name, key: key.privateKey)
        try writer.writeTagFile(BundleLayout.disclosureStatement, statementNote.bytes)
        // The ledger is written last: a disclosure that failed before this point left no trace in it.
        let entry = try ledger.append(LedgerEntryDraft(
            action: .disclose,
            subjects: [try LedgerSubject(id: source.bundleID, attributes: [
                "statement-sha256": .string(Hex.encode(Digester.digest(.sha256, statementNote.bytes))),
                "items-root": .string(source.itemsRoot.hex), "disclosed": .int(Int64(chosen.count)),
                "withheld": .int(Int64(statement.withheld)),
            ])],
            legalBasis: request.legalBasis,
            details: ["bundle": .string(source.bundleID), "to": .string(request.recipient),
                      "mlaReference": .string(request.mlaReference)]), key: key)
        let checkpoint = try ledger.makeCheckpoint(key: key)
        let size = try Checkpoint.open(checkpoint.bytes, keys: [key.identity.verifierKey]).size
        try writer.writeTagFile(BundleLayout.disclosureEntry, entry.bytes + [10])
        try writer.writeTagFile(BundleLayout.disclosureEntryProof,
                                try ledger.inclusionProof(index: entry.sequence, size: size).json.canonicalBytes + [10])
        try writer.writeTagFile(BundleLayout.disclosureCheckpoint, checkpoint.bytes)
        let bagInfo: [(label: String, value: String)] = [
            ("Source-Organization", key.identity.agency), ("Contact-Name", key.identity.name),
            ("External-Identifier", source.bundleID), ("Bagging-Date", statement.time.dateString),
            ("Payload-Oxum", writer.payloadOxum), ("Bag-Software-Agent", "custody \(CustodyVersion.string)"),
            ("Custody-Jurisdiction", key.identity.jurisdiction),
            ("Custody-Disclosed-By", "\(key.identity.name) (key \(key.identity.keyIDHex))"),
            ("Custody-Items-Disclosed", String(chosen.count)), ("Custody-Items-Withheld", String(statement.withheld)),
        ]
        _ = try writer.writeManifests(bagInfo: bagInfo)
        try writer.finish(seal: source.seal)
        return DisclosureResult(path: writer.finalPath, statement: statement, payloadBytes: payloadBytes,
                                entry: entry, checkpointSize: size, sourceChecks: report.checks)
    }

    /// The payload manifests' digests of the chosen items' payloads, found by scanning the manifests' lines for
    /// their paths (each manifest was checked against the tag manifest, and the seal entry commits to SHA-256's).
    static func findManifestLines(_ selected: inout [(item: SourceItem, whole: Bool, ranges: [ClosedRange<UInt64>])],
                                  bundle: String) throws {
        var wanted: [String: Int] = [:]
        for (index, entry) in selected.enumerated() {
            if let payload = entry.item.record.content?.payload { wanted["  " + BagIt.encodePath(payload)] = index }
        }
        guard !wanted.isEmpty else { return }
        let suffixes = wanted.map { (Array($0.key.utf8), $0.value) }
        for algorithm in BundleLayout.payloadManifests {
            let name = BundleLayout.manifestName(algorithm)
            let descriptor = try BagTree.openRegular(bundle + "/" + name)
            defer { descriptor.close() }
            var lines = LineReader(descriptor, maximumLength: 64 << 10)
            var found = 0
            while found < suffixes.count, let line = try lines.next() {
                for (suffix, index) in suffixes where line.count > suffix.count && line.ends(with: suffix) {
                    let parsed = try BagIt.parseManifest(line + [10], name: name, algorithm: algorithm)
                    guard let entry = parsed.first, entry.path == selected[index].item.record.content?.payload,
                          selected[index].item.manifest[algorithm] == nil else { continue }
                    selected[index].item.manifest[algorithm] = entry.digest
                    found += 1
                }
            }
            guard found == suffixes.count else {
                throw DisclosureError.sourceDoesNotVerify(bundle: bundle, check: "bagit.\(name)",
                                                          detail: "a chosen item's payload is not listed")
            }
        }
    }

    /// `PATH:START-END`, split at the last colon.
    static func parseRange(_ text: String) throws -> RangeRequest {
        guard let colon = text.lastIndex(of: ":") else { throw DisclosureError.rangeMalformed(text: text) }
        let bounds = text[text.index(after: colon)...].split(separator: "-", omittingEmptySubsequences: false)
        guard colon > text.startIndex, bounds.count == 2, let start = UInt64(bounds[0]), let end = UInt64(bounds[1]),
              start <= end else {
            throw DisclosureError.rangeMalformed(text: text)
        }
        return RangeRequest(pattern: String(text[..<colon]), range: start...end)
    }

    /// Whether `pattern` names `path`: the same bytes, or an `fnmatch(3)` glob matching it (no flags).
    static func matches(_ pattern: String, _ path: [UInt8]) -> Bool {
        if Array(pattern.utf8) == path { return true }
        guard pattern.contains(where: { "*?[".contains($0) }), !path.contains(0) else { return false }
        return RawName.withCString(RawName.decode(path)) { name in
            pattern.withCString { fnmatch($0, name, 0) == 0 }
        }
    }

    static func sourceFailure(_ bundle: String, _ report: VerificationReport) -> DisclosureError {
        let failure = report.failures.first
        return .sourceDoesNotVerify(bundle: bundle, check: failure?.name ?? "bundle",
                                    detail: failure?.detail ?? "cannot be read")
    }

    static func requirePassed(_ bundle: String, _ report: VerificationReport) throws {
        if !report.passed { throw sourceFailure(bundle, report) }
    }

    /// The checks of an original collection bundle a disclosure rests on, without reading its payloads: the tag
    /// files against the tag manifests, the identities, the seal, the ledger excerpt and proofs, and the history.
    static func checkOriginal(_ bundle: String, verifier: BundleVerifier) throws -> (Source, VerificationReport) {
        var report = VerificationReport()
        var summary = BundleSummary()
        guard let bag = verifier.checkCollectionStructure(into: &report, walkingPayload: false) else {
            throw sourceFailure(bundle, report)
        }
        summary.bagInfo = bag.bagInfo
        summary.bundleID = bag.bagInfo.first { $0.label.lowercased() == "external-identifier" }?.value
        let identities = verifier.loadIdentities(into: &report)
        summary.identities = identities
        guard let statement = verifier.checkCollectionSeal(identities: identities, summary: &summary,
                                                           into: &report) else {
            throw sourceFailure(bundle, report)
        }
        verifier.checkLedger(keys: identities.map(\.verifierKey), identities: identities, summary: &summary,
                             into: &report)
        verifier.checkCollectionHistory(summary: summary, root: statement.itemsRoot,
                                        count: Int(statement.itemCount), manifestSHA256: bag.manifestSHA256,
                                        into: &report)
        try requirePassed(bundle, report)
        let read = { (name: String) throws -> [UInt8] in
            try BagTree.readRegular(bundle + "/" + name, limit: BagValidator.tagFileLimit)
        }
        guard let sealEntry = summary.entries.first(where: { $0.action == .seal }) else {
            throw DisclosureError.sourceDoesNotVerify(bundle: bundle, check: "custody history", detail: "no seal entry")
        }
        let proofs = (try JSONValue.parse(try read(BundleLayout.proofs))).arrayValue ?? []
        guard let sealProof = proofs.first(where: { $0["index"]?.intValue == Int64(sealEntry.sequence) }) else {
            throw DisclosureError.sourceDoesNotVerify(bundle: bundle, check: "inclusion proofs",
                                                      detail: "no proof for the seal entry")
        }
        let source = Source(bundleID: statement.bundleID, seal: try read(BundleLayout.seal),
                            checkpoint: try read(BundleLayout.checkpoint), sealEntry: sealEntry.bytes,
                            sealProof: sealProof.canonicalBytes, identities: try read(BundleLayout.identities),
                            itemCount: statement.itemCount, itemsRoot: statement.itemsRoot, previous: nil,
                            root: bundle, isDisclosure: false, leavesFile: bundle + "/" + BundleLayout.leavesFile)
        return (source, report)
    }

    /// Reads the original's records file a second time, hashing lines only, to prove the chosen records.
    static func proveRecords(_ chosen: inout [(item: SourceItem, extent: DisclosureStatement.Extent)],
                             source: Source) throws {
        var proofs = try SelectedProofs(proving: chosen.map { UInt64($0.item.record.number - 1) },
                                        size: source.itemCount)
        let descriptor = try BagTree.openRegular(source.root + "/" + BundleLayout.itemRecords)
        defer { descriptor.close() }
        var lines = LineReader(descriptor, maximumLength: ItemRecordsReader.maximumLineLength)
        while let line = try lines.next() { proofs.append(Merkle.leafHash(line)) }
        for index in chosen.indices {
            chosen[index].item.proof = try proofs.proof(index: UInt64(chosen[index].item.record.number - 1))
        }
    }

    /// Writes each chosen item's payload (whole, or the chunks covering its ranges) after checking it against
    /// its record; returns the stored bytes written.
    static func writePayloads(_ chosen: [(item: SourceItem, extent: DisclosureStatement.Extent)], source: Source,
                              writer: BundleWriter) throws -> UInt64 {
        var total: UInt64 = 0
        for (item, extent) in chosen {
            guard let content = item.record.content, let file = item.payloadFile else { continue }
            let label = "item \(item.record.number) (\(item.record.displayPath))"
            let output = try writer.createPayload(content.payload)
            defer { output.close() }
            let digesters = BundleLayout.payloadManifests.map { Digester($0) }
            var written: UInt64 = 0
            func emit(_ bytes: UnsafeRawBufferPointer) throws {
                try output.writeAll(bytes)
                for digester in digesters { digester.update(bytes) }
                written += UInt64(bytes.count)
            }
            switch extent {
            case .whole:
                let input = try BagTree.openRegular(file)
                defer { input.close() }
                var buffer = [UInt8](repeating: 0, count: 4 << 20)
                while true {
                    let got = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                    if got == 0 { break }
                    try buffer.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
                }
                try output.sync()
                var digests: [DigestAlgorithm: [UInt8]] = [:]
                for digester in digesters { digests[digester.algorithm] = digester.finalize() }
                if !source.isDisclosure {
                    for (algorithm, expected) in item.manifest where !constantTimeEqual(expected, digests[algorithm]!) {
                        throw DisclosureError.sourceDoesNotVerify(
                            bundle: source.root, check: label,
                            detail: "\(content.payload): \(algorithm.rawValue) differs from the manifest")
                    }
                    let leaves = content.chunkCount > 1 ? try readLeaves(source, content: content, label: label) : nil
                    let verifier = BundleVerifier(root: writer.workPath)
                    let problems = verifier.contentProblems(
                        payload: content.payload, encoding: content.encoding, size: content.size,
                        chunkSize: content.chunkSize, tree: content.tree, digests: content.digests, leaves: leaves,
                        path: writer.absolute(content.payload), label: label)
                    if let problem = problems.first {
                        throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label, detail: problem)
                    }
                }
                writer.recordPayload(content.payload, size: written, digests: digests)
            case .ranges(let ranges):
                let chunks = DisclosureChunks.covering(ranges, chunkSize: content.chunkSize)
                try copyChunks(chunks, item: item, content: content, source: source, label: label, emit: emit)
                try output.sync()
                var digests: [DigestAlgorithm: [UInt8]] = [:]
                for digester in digesters { digests[digester.algorithm] = digester.finalize() }
                writer.recordPayload(content.payload, size: written, digests: digests)
            }
            total += written
        }
        return total
    }

    /// The leaf hashes of an original's multi-chunk file, checked against its tree digest.
    static func readLeaves(_ source: Source, content: CollectionRecord.Content, label: String) throws -> [Hash32] {
        guard content.chunkCount > 1 else { return [Hash32(hex: content.tree)!] }
        guard let path = source.leavesFile, let offset = content.leavesOffset, content.chunkCount <= 1 << 25 else {
            throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label, detail: "no leaf list")
        }
        let file = try BagTree.openRegular(path)
        defer { file.close() }
        var bytes = [UInt8](repeating: 0, count: Int(content.chunkCount) * 32)
        let got = try bytes.withUnsafeMutableBytes { try file.readFully(into: $0, at: offset) }
        let leaves = got == bytes.count ? stride(from: 0, to: bytes.count, by: 32).map {
            Hash32(bytes[$0..<($0 + 32)])!
        } : []
        guard got == bytes.count, Merkle.root(leaves: leaves).hex == content.tree else {
            throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label,
                                                      detail: "its leaves do not hash to its tree digest")
        }
        return leaves
    }

    /// Copies the stored form of `chunks` (members of custody gzip, or raw bytes) from the source, checking each
    /// chunk's leaf hash against the item's tree; collects the chunk proofs in `chunkProofs`.
    static func copyChunks(_ chunks: [UInt64], item: SourceItem, content: CollectionRecord.Content, source: Source,
                           label: String, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let descriptor = try BagTree.openRegular(item.payloadFile!)
        defer { descriptor.close() }
        @Sendable func check(_ chunk: UInt64, _ bytes: [UInt8], expected: Hash32?) throws {
            guard bytes.count == DisclosureChunks.length(of: chunk, size: content.size, chunkSize: content.chunkSize),
                  expected == nil || Merkle.leafHash(bytes) == expected! else {
                throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label,
                                                          detail: "chunk \(chunk) differs from its sealed leaf hash")
            }
        }
        if item.heldChunks != nil {
            // A disclosure holding only some chunks: each was checked (leaf and proof) when the source was verified.
            let held = heldOrder(item)
            if content.encoding == .raw {
                var offsets: [UInt64: UInt64] = [:]
                var offset: UInt64 = 0
                for chunk in held {
                    offsets[chunk] = offset
                    offset += UInt64(DisclosureChunks.length(of: chunk, size: content.size,
                                                             chunkSize: content.chunkSize))
                }
                for chunk in chunks {
                    let length = DisclosureChunks.length(of: chunk, size: content.size, chunkSize: content.chunkSize)
                    var bytes = [UInt8](repeating: 0, count: length)
                    let got = try bytes.withUnsafeMutableBytes {
                        try descriptor.readFully(into: $0, at: offsets[chunk]!)
                    }
                    guard got == length else {
                        throw DisclosureError.sourceDoesNotVerify(
                            bundle: source.root, check: label, detail: "\(content.payload) ends inside chunk \(chunk)")
                    }
                    try bytes.withUnsafeBytes { try emit($0) }
                }
                return
            }
            let run = try PackedMemberRun(descriptor: descriptor, expected: held, chunkSize: content.chunkSize)
            let positions = Dictionary(uniqueKeysWithValues: run.members.enumerated().map { ($1.index, $0) })
            for chunk in chunks {
                let bytes = try run.memberBytes(at: positions[chunk]!)
                try bytes.withUnsafeBytes { try emit($0) }
            }
            return
        }
        let leaves = source.isDisclosure ? nil : try readLeaves(source, content: content, label: label)
        switch content.encoding {
        case .gzip:
            let packed = try PackedEvidenceFile(descriptor: descriptor)
            guard packed.chunkCount == Int(content.chunkCount), packed.chunkSize == content.chunkSize else {
                throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label,
                                                          detail: "\(content.payload) holds \(packed.chunkCount) "
                                                              + "chunks, its record \(content.chunkCount)")
            }
            // Batches of members: read in order, inflated and checked on every core, written in order.
            var start = 0
            while start < chunks.count {
                let batch = Array(chunks[start..<min(start + 16, chunks.count)])
                start += batch.count
                var members: [[UInt8]] = []
                for chunk in batch {
                    let member = packed.members[Int(chunk)]
                    var bytes = [UInt8](repeating: 0, count: Int(member.size))
                    _ = try bytes.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: member.offset) }
                    members.append(bytes)
                }
                let failures = Mutex([String?](repeating: nil, count: batch.count))
                let stored = members
                DispatchQueue.concurrentPerform(iterations: batch.count) { index in
                    let chunk = batch[index]
                    do {
                        let chunkBytes = try stored[index].withUnsafeBytes {
                            try PackedEvidenceFile.inflateMember($0, index: chunk,
                                                                 offset: packed.members[Int(chunk)].offset,
                                                                 chunkSize: content.chunkSize, path: content.payload)
                        }
                        try check(chunk, chunkBytes, expected: leaves?[Int(chunk)])
                    } catch {
                        failures.withLock { $0[index] = "\(error)" }
                    }
                }
                if let failure = failures.withLock({ $0.compactMap { $0 }.first }) {
                    throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label, detail: failure)
                }
                for bytes in members { try bytes.withUnsafeBytes { try emit($0) } }
            }
        case .raw:
            for chunk in chunks {
                let length = DisclosureChunks.length(of: chunk, size: content.size, chunkSize: content.chunkSize)
                var bytes = [UInt8](repeating: 0, count: length)
                let got = try bytes.withUnsafeMutableBytes {
                    try descriptor.readFully(into: $0, at: chunk * UInt64(content.chunkSize))
                }
                guard got == length else {
                    throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: label,
                                                              detail: "\(content.payload) ends before chunk \(chunk)")
                }
                try check(chunk, bytes, expected: leaves?[Int(chunk)])
                try bytes.withUnsafeBytes { try emit($0) }
            }
        }
    }

    /// The chunks a source disclosure holds of an item, ascending.
    static func heldOrder(_ item: SourceItem) -> [UInt64] { (item.heldChunks ?? [:]).keys.sorted() }

    /// Writes the original seal's ledger files, the identities and the disclosure's records and proofs.
    static func writeTagFiles(_ chosen: [(item: SourceItem, extent: DisclosureStatement.Extent)], source: Source,
                              statement: DisclosureStatement, key: SigningKey, writer: BundleWriter) throws {
        try writer.writeTagFile(BundleLayout.checkpoint, source.checkpoint)
        try writer.writeTagFile(BundleLayout.ledgerExcerpt, source.sealEntry + [10])
        try writer.writeTagFile(BundleLayout.proofs, Array("[".utf8) + source.sealProof + Array("]\n".utf8))
        var identities = source.identities
        if identities.last != 10 && !identities.isEmpty { identities.append(10) }
        let known = identities.split(separator: 10).compactMap { try? Identity.parse(Array($0)) }
        if !known.contains(where: { $0.publicKey == key.identity.publicKey && $0.name == key.identity.name }) {
            identities += try key.identity.document(signedWith: key.privateKey)
            if identities.last != 10 { identities.append(10) }
        }
        try writer.writeTagFile(BundleLayout.identities, identities)
        var records: [UInt8] = []
        var proofs: [JSONValue] = []
        var chunkEntries: [JSONValue] = []
        for (item, extent) in chosen {
            records += item.record.line + [10]
            proofs.append(.object(["n": .int(Int64(item.record.number)),
                                   "proof": .array(item.proof.map { .string($0.hex) })]))
            guard case .ranges(let ranges) = extent, let content = item.record.content else { continue }
            let chunks = DisclosureChunks.covering(ranges, chunkSize: content.chunkSize)
            let chunkProofs: [[Hash32]]
            if let held = item.heldChunks {
                chunkProofs = chunks.map { held[$0]! }
            } else {
                var collector = try SelectedProofs(proving: chunks, size: content.chunkCount)
                for leaf in try leavesForProofs(item, content: content, source: source) { collector.append(leaf) }
                chunkProofs = try chunks.map { try collector.proof(index: $0) }
            }
            chunkEntries.append(.object([
                "n": .int(Int64(item.record.number)), "chunks": DisclosureChunks.runs(chunks),
                "proofs": .array(chunkProofs.map { .array($0.map { .string($0.hex) }) }),
            ]))
        }
        try writer.writeTagFile(BundleLayout.disclosureRecords, records)
        try writer.writeTagFile(BundleLayout.disclosureRecordProofs, JSONValue.array(proofs).canonicalBytes + [10])
        if !chunkEntries.isEmpty {
            try writer.writeTagFile(BundleLayout.disclosureChunks, JSONValue.array(chunkEntries).canonicalBytes + [10])
        }
    }

    /// Every leaf of an item whose whole content the source holds: from the original's leaf list, or, for an item
    /// a disclosure holds whole, computed from its (verified) payload.
    static func leavesForProofs(_ item: SourceItem, content: CollectionRecord.Content,
                                source: Source) throws -> [Hash32] {
        if !source.isDisclosure { return try readLeaves(source, content: content, label: "item") }
        if content.chunkCount == 1 { return [Hash32(hex: content.tree)!] }
        let descriptor = try BagTree.openRegular(item.payloadFile!)
        defer { descriptor.close() }
        var leaves: [Hash32] = []
        switch content.encoding {
        case .gzip:
            let packed = try PackedEvidenceFile(descriptor: descriptor)
            for chunk in 0..<packed.chunkCount { leaves.append(Merkle.leafHash(try packed.readChunk(chunk))) }
        case .raw:
            for chunk in 0..<content.chunkCount {
                let length = DisclosureChunks.length(of: chunk, size: content.size, chunkSize: content.chunkSize)
                var bytes = [UInt8](repeating: 0, count: length)
                _ = try bytes.withUnsafeMutableBytes {
                    try descriptor.readFully(into: $0, at: chunk * UInt64(content.chunkSize))
                }
                leaves.append(Merkle.leafHash(bytes))
            }
        }
        guard Merkle.root(leaves: leaves).hex == content.tree else {
            throw DisclosureError.sourceDoesNotVerify(bundle: source.root, check: "item \(item.record.number)",
                                                      detail: "its content does not hash to its tree digest")
        }
        return leaves
    }
}

extension Array where Element == UInt8 {
    /// Where a record line's `"path":` or `"path64":` member's value starts, and which of the two it is: the first
    /// `"path` followed by `":` or `64":` (no string value holds an unescaped quote, and no member before `path` in
    /// sorted order holds one of its own).
    func recordPathField() -> (valueStart: Int, is64: Bool)? {
        withUnsafeBufferPointer { bytes -> (Int, Bool)? in
            let key: [UInt8] = Array("\"path".utf8)
            var index = 0
            while index + 9 <= bytes.count {
                if bytes[index] == 34 && bytes[index + 1] == key[1] && bytes[index + 2] == key[2]
                    && bytes[index + 3] == key[3] && bytes[index + 4] == key[4] {
                    if bytes[index + 5] == 34 && bytes[index + 6] == 58 { return (index + 7, false) }
                    if bytes[index + 5] == 54 && bytes[index + 6] == 52 && bytes[index + 7] == 34
                        && bytes[index + 8] == 58 { return (index + 9, true) }
                }
                index += 1
            }
            return nil
        }
    }

    /// Whether the array holds `prefix` at `offset`.
    func has(_ prefix: [UInt8], at offset: Int) -> Bool {
        offset + prefix.count <= count && self[offset..<(offset + prefix.count)].elementsEqual(prefix)
    }

    /// Whether the array ends with `suffix`.
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
