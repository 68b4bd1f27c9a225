import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// What a verification learned about a bundle, for reports.
public struct BundleSummary: Sendable {
    /// The bundle ID from bag-info, if readable.
    public var bundleID: String?
    /// The item records from `items.json`.
    public var items: [ItemRecord] = []
    /// The conditions the bundle carries, if readable.
    public var conditions: Conditions?
    /// The sealing officer, when the seal names a known identity.
    public var sealer: Identity?
    /// The entries of the bundle's ledger excerpt.
    public var entries: [LedgerEntry] = []
    /// The self-signed identities the bundle carries (`custody/identities.json`).
    public var identities: [Identity] = []
    /// The bundle's checkpoint, if it verified.
    public var checkpoint: Checkpoint?
    /// The bag-info labels and values, in order.
    public var bagInfo: [(label: String, value: String)] = []
    /// Per item number: whether its content verified (nil when not checked).
    public var itemStatus: [Int: Bool] = [:]
    /// Per item number: what re-hashing its content computed (none with `fast`, or when it could not be read),
    /// to show beside the sealed values.
    public var computed: [Int: ComputedContent] = [:]
    /// For a collection bundle (SPEC.md section 5.13): its counts, items root and failures; `items` is then empty.
    public var collection: CollectionVerification?
    /// For a disclosure (SPEC.md section 5.14): its statement, signers and times; `items` is then empty.
    public var disclosure: DisclosureSummary?

    /// A summary that knows nothing yet.
    package init() {}
}

/// What verification computed from an item's stored content: its size, tree digest and linear digests.
public struct ComputedContent: Sendable, Equatable {
    /// The content's size in bytes.
    public var size: UInt64
    /// The tree digest, lower-case hex.
    public var tree: String
    /// Linear digests by algorithm name (`sha256`...), lower-case hex.
    public var digests: [String: String]

    /// The computed values: `size`, `tree` and `digests` (hex).
    public init(size: UInt64, tree: String, digests: [String: String]) {
        self.size = size
        self.tree = tree
        self.digests = digests
    }
}

/// Verifies a sealed bundle completely: BagIt structure and manifests, the seal and its signer, every item's
/// content against its tree and linear digests, the ledger excerpt's chain and signatures, each inclusion
/// proof against the checkpoint, and the checkpoint's signature. Never writes into the bundle.
public struct BundleVerifier: Sendable {
    /// The bundle directory.
    public var root: String
    /// Trusted keys; without a store, valid signatures are reported as valid but not trusted.
    public var trust: TrustStore?
    /// Skip only the decompression and re-hashing of item content.
    public var fast = false
    /// Called with a path and the bytes verified so far, as content is re-hashed.
    public var progress: (@Sendable (String, UInt64) -> Void)?
    /// For a collection bundle: called on the verifying thread with each stored file's number, path and
    /// problems (empty when it verified), in item order (`verify --list`).
    public var itemOutcome: (@Sendable (Int, String, [String]) -> Void)?
    /// Called once with the item records, when they are read and before any content is, so that a display can
    /// know the totals.
    public var itemsLoaded: (@Sendable ([ItemRecord]) -> Void)?

    /// A verifier of the bundle at `root`, checking signers against `trust` when given; `fast` skips decompressing and
    /// re-hashing item content.
    public init(root: String, trust: TrustStore? = nil, fast: Bool = false) {
        self.root = root
        self.trust = trust
        self.fast = fast
    }

    /// Runs every check; never throws: what cannot be read is a failed check in the report.
    public func verify() -> (report: VerificationReport, summary: BundleSummary) {
        var report = VerificationReport()
        var summary = BundleSummary()
        guard FileSystem.exists(root), (try? FileSystem.status(root, followLinks: false).st_mode & S_IFMT) == S_IFDIR
        else {
            report.fail("bundle", "\(root): not a directory (a bundle is a BagIt directory)")
            return (report, summary)
        }
        if BundleVerifier.isDisclosure(root) {
            _ = verifyDisclosure(report: &report, summary: &summary)
            return (report, summary)
        }
        if BundleVerifier.isCollection(root) {
            verifyCollection(report: &report, summary: &summary)
            return (report, summary)
        }
        guard let structure = BagValidator(root: root).checkStructure(into: &report) else { return (report, summary) }
        summary.bagInfo = structure.bagInfo
        summary.bundleID = structure.bagInfoValue("External-Identifier")
        let identities = loadIdentities(into: &report)
        summary.identities = identities
        let keys = identities.map(\.verifierKey)
        summary.items = loadItems(structure: structure, summary: summary, into: &report)
        itemsLoaded?(summary.items)
        checkSeal(structure: structure, identities: identities, summary: &summary, into: &report)
        checkLedger(keys: keys, identities: identities, summary: &summary, into: &report)
        if !summary.entries.isEmpty { checkCoverage(entries: summary.entries, summary: summary, into: &report) }
        checkConditions(summary: &summary, into: &report)
        checkContent(structure: structure, summary: &summary, into: &report)
        return (report, summary)
    }

    func readTag(_ name: String, into report: inout VerificationReport) -> [UInt8]? {
        do {
            return try BagTree.readRegular(root + "/" + name, limit: BagValidator.tagFileLimit)
        } catch {
            report.fail(name, "\(name) cannot be read: \(error)")
            return nil
        }
    }

    func loadIdentities(into report: inout VerificationReport) -> [Identity] {
        guard let bytes = readTag(BundleLayout.identities, into: &report) else { return [] }
        var identities: [Identity] = []
        for (index, line) in bytes.split(separator: 10).enumerated() {
            do {
                identities.append(try Identity.parse(Array(line), source: "\(BundleLayout.identities):\(index + 1)"))
            } catch {
                report.fail("identities", "\(error)")
            }
        }
        if !identities.isEmpty {
            report.pass("identities", "\(identities.count) self-signed identit\(identities.count == 1 ? "y" : "ies"): "
                + identities.map { "\($0.name) (\($0.agency), \($0.jurisdiction))" }.joined(separator: ", "))
        }
        return identities
    }

    private func loadItems(structure: BagValidator.Structure, summary: BundleSummary,
                           into report: inout VerificationReport) -> [ItemRecord] {
        guard let bytes = readTag(BundleLayout.items, into: &report) else { return [] }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            report.fail("items", "\(BundleLayout.items): \(error)")
            return []
        }
        guard let list = json["items"]?.arrayValue else {
            report.fail("items", "\(BundleLayout.items): no 'items' array")
            return []
        }
        if let bundle = json["bundle"]?.stringValue, bundle != summary.bundleID {
            report.fail("items", "\(BundleLayout.items) names bundle \(bundle), bag-info says "
                + "\(summary.bundleID ?? "none")")
        }
        var records: [ItemRecord] = []
        var ok = true
        for (index, item) in list.enumerated() {
            do {
                let place = "\(BundleLayout.items) item \(index + 1)"
                let record = try ItemRecord(json: item, where: place)
                do {
                    _ = try BagIt.safeComponents(record.payloadPath)
                    _ = try BagIt.safeComponents(record.leavesPath)
                } catch let error as BundleError {
                    throw BundleError.itemPathUnsafe(location: place, problem: error)
                }
                if structure.payload[record.payloadPath] == nil {
                    report.fail("items", "item \(record.number): payload \(record.payloadPath) is not in the manifests")
                    ok = false
                }
                records.append(record)
            } catch {
                report.fail("items", "\(error)")
                ok = false
            }
        }
        if ok { report.pass("items", "\(records.count) item record\(records.count == 1 ? "" : "s") readable") }
        return records
    }

    func describe(_ standing: TrustStore.Standing?, name: String, keyID: String)
        -> (VerificationCheck.Status, String) {
        guard let standing else {
            return (.warning, "valid signature by \(name) (key \(keyID)); no trust store given, so the key is not "
                + "known to be trusted")
        }
        switch standing {
        case .trusted(let entry):
            return (.passed, "valid signature by \(name) (key \(keyID)), trusted: \(entry.agency), "
                + "\(entry.jurisdiction)")
        case .wrongKey(let entry):
            return (.failed, "signed by \(name) with key \(keyID), but the trust store holds a different key for "
                + "\(name) (\(entry.verifierKey.keyIDHex), \(entry.agency))")
        case .unknown:
            return (.failed, "valid signature by \(name) (key \(keyID)), but that key is not in the trust store")
        }
    }

    private func checkSeal(structure: BagValidator.Structure, identities: [Identity], summary: inout BundleSummary,
                           into report: inout VerificationReport) {
        guard let bytes = readTag(BundleLayout.seal, into: &report) else { return }
        let note: SignedNote
        do {
            note = try SignedNote.parse(bytes)
        } catch {
            report.fail("seal", "\(BundleLayout.seal): \(error)")
            return
        }
        let verified: [NoteVerifierKey]
        do {
            verified = try note.verify(with: identities.map(\.verifierKey))
        } catch {
            report.fail("seal signature", "\(BundleLayout.seal): \(error)")
            return
        }
        guard let signer = verified.first, let identity = identities.first(where: { $0.name == signer.name }) else {
            report.fail("seal signature", "\(BundleLayout.seal): no signature by an identity in "
                + "\(BundleLayout.identities)")
            return
        }
        summary.sealer = identity
        let (status, detail) = describe(trust?.standing(name: identity.name, key: identity.publicKey),
                                        name: identity.name, keyID: identity.keyIDHex)
        report.checks.append(VerificationCheck("seal signature", status, detail))
        let statement: SealStatement
        do {
            statement = try SealStatement(text: note.text)
        } catch {
            report.fail("seal statement", "\(error)")
            return
        }
        var problems: [String] = []
        problems += sealedBagProblems(bundleID: statement.bundleID, tagManifestDigest: statement.tagManifestDigest,
                                      summary: summary)
        let sealedItems = statement.items.map { "\($0.number) \($0.id) \($0.chunkSize) \($0.tree) \($0.size)" }
        let recordItems = summary.items.map { "\($0.number) \($0.id) \($0.chunkSize) \($0.tree) \($0.size)" }
        if sealedItems != recordItems {
            problems.append("the items sealed (\(statement.items.count)) differ from \(BundleLayout.items) "
                + "(\(summary.items.count))")
        }
        if problems.isEmpty {
            report.pass("seal statement", "bundle ID, tag manifest and \(statement.items.count) item tree digests "
                + "match the seal")
        } else {
            for problem in problems { report.fail("seal statement", problem) }
        }
    }

    func checkLedger(keys: [NoteVerifierKey], identities: [Identity], summary: inout BundleSummary,
                     into report: inout VerificationReport) {
        guard let checkpointBytes = readTag(BundleLayout.checkpoint, into: &report) else { return }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint.open(checkpointBytes, keys: keys)
            let note = try SignedNote.parse(checkpointBytes)
            let signer = try note.verify(with: keys).first
            let identity = identities.first { $0.name == signer?.name }
            if let identity {
                let (status, detail) = describe(trust?.standing(name: identity.name, key: identity.publicKey),
                                                name: identity.name, keyID: identity.keyIDHex)
                report.checks.append(VerificationCheck("checkpoint signature", status,
                                                       "checkpoint \(checkpoint.origin) size \(checkpoint.size): "
                                                           + detail))
            }
        } catch {
            report.fail("checkpoint signature", "\(BundleLayout.checkpoint): \(error)")
            return
        }
        summary.checkpoint = checkpoint
        guard let excerpt = readTag(BundleLayout.ledgerExcerpt, into: &report),
              let proofBytes = readTag(BundleLayout.proofs, into: &report) else { return }
        var entries: [LedgerEntry] = []
        var ok = true
        for (index, line) in excerpt.split(separator: 10, omittingEmptySubsequences: false).enumerated()
            where !line.isEmpty {
            do {
                let entry = try LedgerEntry.parse(Array(line))
                guard let key = identities.first(where: { $0.keyIDHex == entry.actor.keyID }) else {
                    report.fail("ledger excerpt", "entry \(entry.sequence): actor key \(entry.actor.keyID) is not in "
                        + BundleLayout.identities)
                    ok = false
                    continue
                }
                if try !entry.verifySignature(with: key.publicKey) {
                    report.fail("ledger excerpt", "entry \(entry.sequence) (line \(index + 1)): signature does "
                        + "not verify")
                    ok = false
                }
                entries.append(entry)
            } catch {
                report.fail("ledger excerpt", "\(BundleLayout.ledgerExcerpt) line \(index + 1): \(error)")
                ok = false
            }
        }
        for (previous, next) in zip(entries, entries.dropFirst()) where next.sequence == previous.sequence + 1 {
            if next.previous != previous.leafHash {
                report.fail("ledger excerpt", "entry \(next.sequence) does not chain to entry \(previous.sequence)")
                ok = false
            }
        }
        if ok { report.pass("ledger excerpt", "\(entries.count) entries, signatures and chain links valid") }
        summary.entries = entries
        checkProofs(proofBytes, entries: entries, checkpoint: checkpoint, into: &report)
    }

    func checkProofs(_ bytes: [UInt8], entries: [LedgerEntry], checkpoint: Checkpoint,
                             into report: inout VerificationReport) {
        guard let list = (try? JSONValue.parse(bytes))?.arrayValue else {
            report.fail("inclusion proofs", "\(BundleLayout.proofs) is not a JSON array of proofs")
            return
        }
        var proven = Set<UInt64>()
        var ok = true
        for (index, item) in list.enumerated() {
            guard let proof = try? InclusionProof(json: item.canonicalBytes, source: "proof \(index + 1)") else {
                report.fail("inclusion proofs", "\(BundleLayout.proofs) proof \(index + 1) is malformed")
                ok = false
                continue
            }
            guard let entry = entries.first(where: { $0.sequence == proof.index }),
                  entry.leafHash == proof.leafHash else {
                report.fail("inclusion proofs", "proof \(index + 1) (index \(proof.index)) is for no entry of "
                    + "the excerpt")
                ok = false
                continue
            }
            do {
                try proof.check(leading: entry.leafHash, to: checkpoint)
            } catch {
                report.fail("inclusion proofs", "\(error)")
                ok = false
                continue
            }
            proven.insert(proof.index)
        }
        for entry in entries where !proven.contains(entry.sequence) {
            report.fail("inclusion proofs", "entry \(entry.sequence) has no valid inclusion proof")
            ok = false
        }
        if ok {
            report.pass("inclusion proofs", "\(proven.count) entries proven included in the ledger at size "
                + "\(checkpoint.size)")
        }
    }

    private func checkCoverage(entries: [LedgerEntry], summary: BundleSummary, into report: inout VerificationReport) {
        var ok = true
        for item in summary.items {
            let recorded = entries.contains { entry in
                entry.action == .acquire && entry.subjects.contains {
                    $0.id == item.id && $0.attributes["tree"]?.stringValue == item.tree
                        && $0.attributes["sha256"]?.stringValue == item.digests["sha256"]
                }
            }
            if !recorded {
                report.fail("custody history", "item \(item.number) (\(item.id)): no acquire entry with its digests")
                ok = false
            }
        }
        let sealSubjects = entries.filter { $0.action == .seal }.flatMap(\.subjects)
            .filter { $0.id == summary.bundleID }
        if sealSubjects.isEmpty {
            report.fail("custody history", "no seal entry for bundle \(summary.bundleID ?? "?")")
            ok = false
        } else {
            // The seal entry records the SHA-256 of the payload manifest: the ledger itself vouches for the payload.
            let manifestName = BundleLayout.manifestName(.sha256)
            let manifest = try? BagTree.readRegular(root + "/" + manifestName, limit: BagValidator.tagFileLimit)
            let actual = manifest.map { Hex.encode(Digester.digest(.sha256, $0)) }
            if !sealSubjects.contains(where: { $0.attributes["manifest-sha256"]?.stringValue == actual }) {
                report.fail("custody history", "the seal entry's manifest-sha256 differs from the SHA-256 of "
                    + "\(manifestName)")
                ok = false
            }
        }
        if ok {
            report.pass("custody history", "every item has its acquire entry and the bundle its seal entry, which "
                + "records the payload manifest's digest")
        }
    }

    func checkConditions(summary: inout BundleSummary, into report: inout VerificationReport) {
        guard let bytes = readTag(BundleLayout.conditions, into: &report) else { return }
        do {
            let conditions = try Conditions(json: try JSONValue.parse(bytes), source: BundleLayout.conditions)
            summary.conditions = conditions
            report.pass("conditions", conditions.summaryLines.joined(separator: "; "))
        } catch {
            report.fail("conditions", "\(error)")
        }
    }

    private func checkContent(structure: BagValidator.Structure, summary: inout BundleSummary,
                              into report: inout VerificationReport) {
        for item in summary.items {
            guard let expected = structure.payload[item.payloadPath] else { continue }
            let path = root + "/" + item.payloadPath
            let (manifestProblem, contentOutcome) = verifyItem(item, path: path, manifest: expected)
            if let manifestProblem {
                report.fail("item \(item.number) payload", manifestProblem)
            } else {
                let names = expected.keys.sorted().map(\.rawValue).joined(separator: " and ")
                report.pass("item \(item.number) payload", "\(item.payloadPath): \(names) match the manifests")
            }
            guard let contentOutcome else {
                report.skip("item \(item.number) content", "not decompressed or re-hashed (--fast)")
                continue
            }
            summary.itemStatus[item.number] = contentOutcome.problems.isEmpty
            if let computed = contentOutcome.computed { summary.computed[item.number] = computed }
            if contentOutcome.problems.isEmpty {
                let zeroFilled = item.badRanges.isEmpty ? "" : "; \(item.badRanges.count) unreadable range"
                    + "\(item.badRanges.count == 1 ? " was" : "s were") zero-filled at acquisition and the "
                    + "digests cover the zero-filled image"
                report.pass("item \(item.number) content", "\(BagIt.printable(item.originalName)): "
                    + "\(ByteSize.describe(item.size)), "
                    + "tree and \(item.digests.keys.sorted().joined(separator: ", ")) match" + zeroFilled)
            } else {
                for problem in contentOutcome.problems { report.fail("item \(item.number) content", problem) }
            }
        }
    }

    /// Hashes the stored file for the manifests and (unless fast) decompresses and re-hashes the content, both
    /// at once.
    private func verifyItem(_ item: ItemRecord, path: String, manifest: [DigestAlgorithm: [UInt8]])
        -> (String?, (problems: [String], computed: ComputedContent?)?) {
        let manifestResult = Mutex<String?>(nil)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let problem = checkManifestDigests(path: path, expected: manifest, payload: item.payloadPath)
            manifestResult.withLock { $0 = problem }
        }
        var content: (problems: [String], computed: ComputedContent?)?
        if !fast { content = checkItemContent(item, path: path) }
        group.wait()
        return (manifestResult.withLock { $0 }, content)
    }

    func checkManifestDigests(path: String, expected: [DigestAlgorithm: [UInt8]], payload: String) -> String? {
        do {
            let descriptor = try BagTree.openRegular(path)
            defer { descriptor.close() }
            let size = try InputHasher.currentSize(of: descriptor, kind: .regularFile)
            let pipeline = ChunkPipeline(chunkSize: 4 << 20, linearDigests: Array(expected.keys).sorted(),
                                         computeTree: false)
            let result = try pipeline.run(FileChunkReader(descriptor: descriptor, size: size))
            for algorithm in expected.keys.sorted() {
                guard let actual = result.digests[algorithm], constantTimeEqual(actual, expected[algorithm]!) else {
                    return "\(payload): \(algorithm.rawValue) differs from manifest-\(algorithm.rawValue).txt "
                        + "(the payload file was changed)"
                }
            }
            return nil
        } catch {
            return "\(payload): \(error)"
        }
    }

    func checkItemContent(_ item: ItemRecord, path: String) -> (problems: [String], computed: ComputedContent?) {
        var problems: [String] = []
        var leaves: [Hash32]?
        let chunks = item.size == 0 ? 1 : (item.size - 1) / UInt64(item.chunkSize) + 1
        let leavesLimit = Int(min(chunks * 32, 1 << 30))
        if let bytes = try? BagTree.readRegular(root + "/" + item.leavesPath, limit: leavesLimit),
           bytes.count % 32 == 0 {
            leaves = stride(from: 0, to: bytes.count, by: 32).map { Hash32(bytes[$0..<($0 + 32)])! }
            if let leaves, Merkle.root(leaves: leaves).hex != item.tree {
                problems.append("\(item.leavesPath): the leaf list does not hash to the item's tree digest")
            }
        } else {
            problems.append("\(item.leavesPath): missing or not a list of 32-byte leaf hashes")
        }
        let content = contentOutcome(
            payload: item.payloadPath, encoding: item.encoding, size: item.size, chunkSize: item.chunkSize,
            tree: item.tree, digests: item.digests, leaves: problems.isEmpty ? leaves : nil, path: path,
            label: "item \(item.number)")
        return (problems + content.problems, content.computed)
    }

    /// Decompresses (or reads) the payload at `path` and compares its size, tree digest, leaves and linear digests
    /// with the sealed values; returns what differs, each naming `payload`.
    /// With `stored`, the payload's bytes already read whole (a small file), nothing is read again.
    func contentProblems(payload: String, encoding: PayloadEncoding, size: UInt64, chunkSize: Int, tree treeHex: String,
                         digests: [String: String], leaves: [Hash32]?, path: String, label: String,
                         stored: [UInt8]? = nil) -> [String] {
        contentOutcome(payload: payload, encoding: encoding, size: size, chunkSize: chunkSize, tree: treeHex,
                       digests: digests, leaves: leaves, path: path, label: label, stored: stored).problems
    }

    /// `contentProblems`, and what was computed from the content (nil when it could not be read).
    func contentOutcome(payload: String, encoding: PayloadEncoding, size: UInt64, chunkSize: Int, tree treeHex: String,
                        digests: [String: String], leaves: [Hash32]?, path: String, label: String,
                        stored: [UInt8]? = nil) -> (problems: [String], computed: ComputedContent?) {
        var problems: [String] = []
        var computed: ComputedContent?
        var expectedDigests: [DigestAlgorithm: [UInt8]] = [:]
        for (name, hex) in digests {
            guard let algorithm = DigestAlgorithm(rawValue: name), let bytes = Hex.decode(hex) else {
                problems.append("\(label): digest '\(name)' is unknown or not hex")
                continue
            }
            expectedDigests[algorithm] = bytes
        }
        guard let tree = Hash32(hex: treeHex) else {
            return (problems + ["\(label): tree digest is not 64 hex digits"], nil)
        }
        do {
            let descriptor = stored == nil ? try BagTree.openRegular(path) : nil
            defer { descriptor?.close() }
            let outcome: (size: UInt64, tree: Hash32, leaves: [Hash32], digests: [DigestAlgorithm: [UInt8]],
                          damage: [String])
            switch encoding {
            case .gzip:
                var unpacker = EvidenceUnpacker(
                    expected: UnpackExpectation(treeRoot: tree, leaves: leaves, size: size, digests: expectedDigests,
                                                chunkSize: chunkSize),
                    salvage: true, linearDigests: Array(expectedDigests.keys).sorted())
                if let report = progress { unpacker.progress = { report(payload, $0) } }
                let source: ByteSource = stored.map { MemorySource($0) } ?? descriptor!
                let result = try unpacker.unpack(source, to: nil)
                outcome = (result.size, result.treeRoot, result.leaves, result.digests,
                           result.damaged.map(\.description) + result.problems)
            case .raw:
                var pipeline = ChunkPipeline(chunkSize: chunkSize,
                                             linearDigests: Array(expectedDigests.keys).sorted(),
                                             keepLeaves: true)
                if let report = progress { pipeline.progress = { report(payload, $0) } }
                let reader: ChunkReader = try stored.map { MemoryChunkReader($0) } ?? FileChunkReader(
                    descriptor: descriptor!, size: try InputHasher.currentSize(of: descriptor!, kind: .regularFile))
                let result = try pipeline.run(reader)
                var damage: [String] = []
                if let leaves {
                    for (index, (actual, wanted)) in zip(result.leaves, leaves).enumerated() where actual != wanted {
                        let start = UInt64(index) * UInt64(chunkSize)
                        damage.append("chunk \(index) (bytes \(start)-\(start + UInt64(chunkSize) - 1)): "
                            + "leaf hash differs")
                    }
                }
                outcome = (result.size, result.treeRoot ?? Merkle.emptyRoot, result.leaves, result.digests, damage)
            }
            let computedDigests = outcome.digests.reduce(into: [String: String]()) {
                $0[$1.key.rawValue] = Hex.encode($1.value)
            }
            computed = ComputedContent(size: outcome.size, tree: outcome.tree.hex, digests: computedDigests)
            problems += outcome.damage.map { "\(payload): \($0)" }
            if outcome.size != size {
                problems.append("\(payload): content is \(outcome.size) bytes, the item says \(size)")
            }
            if outcome.tree != tree {
                problems.append("\(payload): tree digest \(outcome.tree.hex) differs from the sealed "
                    + "\(treeHex)")
            }
            for (algorithm, wanted) in expectedDigests.sorted(by: { $0.key < $1.key }) {
                if let actual = outcome.digests[algorithm], !constantTimeEqual(actual, wanted) {
                    problems.append("\(payload): \(algorithm.rawValue) differs from the sealed value")
                }
            }
        } catch {
            problems.append("\(payload): \(error)")
        }
        return (problems, computed)
    }
}

extension BundleVerifier {
    /// What the two seal statements (image and collection) check alike: the bundle ID against bag-info and the
    /// tag manifest (without the seal's own line) against the digest sealed.
    func sealedBagProblems(bundleID: String, tagManifestDigest: [UInt8], summary: BundleSummary) -> [String] {
        var problems: [String] = []
        if bundleID != summary.bundleID {
            problems.append("the seal names bundle \(bundleID), bag-info says \(summary.bundleID ?? "none")")
        }
        if let tagManifest = try? BagTree.readRegular(root + "/" + BundleLayout.tagManifestName(.sha256),
                                                       limit: BagValidator.tagFileLimit) {
            let digest = SealDigest.tagManifestDigest(withoutSeal: tagManifest)
            if !constantTimeEqual(digest, tagManifestDigest) {
                problems.append("tagmanifest-sha256.txt differs from the one sealed (a tag file was changed, added or "
                    + "removed after sealing)")
            }
        }
        return problems
    }
}
