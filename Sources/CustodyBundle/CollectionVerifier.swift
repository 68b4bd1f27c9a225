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

/// What verifying a collection bundle learned, beyond the checks: counts, the items root, and the items that
/// failed (or were recorded with an acquisition error), by original path.
public struct CollectionVerification: Sendable {
    /// Records read.
    public var items = 0
    /// Records by kind.
    public var kinds: [CollectionRecord.Kind: Int] = [:]
    /// Regular files whose content is stored, and their content bytes.
    public var files = 0, bytes: UInt64 = 0
    /// The root computed over the records.
    public var itemsRoot: Hash32?
    /// Items whose verification failed: number, display path, what differs (at most `failuresKept`).
    public var failedItems: [(number: Int, path: String, problem: String)] = []
    /// How many items failed.
    public var failedCount = 0
    /// Items the seal recorded with an acquisition error (unreadable, vanished, changed), at most `failuresKept`.
    public var acquisitionErrors: [(number: Int, path: String, error: String)] = []
    /// How many items carry an acquisition error.
    public var acquisitionErrorCount = 0

    /// The most failures (and acquisition errors) kept for the report; the counts are always complete.
    public static let failuresKept = 100_000
    /// Payloads up to this size are read whole, once, for both their manifest digests and their content.
    public static let wholeReadLimit = 8 << 20
}

/// A multiset of paths in 32 bytes: the sum, modulo 2^256, of their SHA-256 digests. Two listings with the same
/// sum hold the same paths the same number of times (short of a SHA-256 collision-style search), so the payload
/// manifest and the files under `data/` are compared in constant memory whatever their count.
struct PathMultiset: Equatable {
    private var limbs: [UInt64] = [0, 0, 0, 0]
    private(set) var count = 0

    mutating func add(_ path: [UInt8]) {
        let digest = Digester.digest(.sha256, path)
        var carry: UInt64 = 0
        for index in 0..<4 {
            var word: UInt64 = 0
            for byte in digest[(index * 8)..<(index * 8 + 8)] { word = word << 8 | UInt64(byte) }
            let (partial, overflow1) = limbs[index].addingReportingOverflow(word)
            let (total, overflow2) = partial.addingReportingOverflow(carry)
            limbs[index] = total
            carry = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
        }
        count += 1
    }
}

extension BundleVerifier {
    /// Whether the bag at `root` is a collection bundle (it holds `custody/items.jsonl`).
    public static func isCollection(_ root: String) -> Bool {
        guard let info = try? FileSystem.status(root + "/" + BundleLayout.itemRecords, followLinks: false) else {
            return false
        }
        return info.st_mode & S_IFMT == S_IFREG
    }

    /// Verifies a collection bundle (SPEC.md section 5.13) in bounded memory: the records, the payload manifests
    /// and the files under `data/` are read as streams, in step.
    func verifyCollection(report: inout VerificationReport, summary: inout BundleSummary) {
        var collection = CollectionVerification()
        guard let bag = checkCollectionStructure(into: &report) else {
            summary.collection = collection
            return
        }
        summary.bagInfo = bag.bagInfo
        summary.bundleID = bag.bagInfo.first { $0.label.lowercased() == "external-identifier" }?.value
        let identities = loadIdentities(into: &report)
        summary.identities = identities
        let keys = identities.map(\.verifierKey)
        let statement = checkCollectionSeal(identities: identities, summary: &summary, into: &report)
        checkRecords(bag: bag, into: &report, collection: &collection)
        _ = bag.payloadPaths(into: &report)
        if let statement, let root = collection.itemsRoot {
            if statement.itemCount == UInt64(collection.items) && statement.itemsRoot == root {
                report.pass("items root", "\(collection.items) records hash to the sealed items root \(root.hex)")
            } else {
                report.fail("items root", "\(BundleLayout.itemRecords) holds \(collection.items) records with root "
                    + "\(root.hex); the seal commits to \(statement.itemCount) with root \(statement.itemsRoot.hex)")
            }
        }
        checkLedger(keys: keys, identities: identities, summary: &summary, into: &report)
        checkCollectionHistory(summary: summary, root: collection.itemsRoot, count: collection.items,
                               manifestSHA256: bag.manifestSHA256, into: &report)
        checkConditions(summary: &summary, into: &report)
        summary.collection = collection
    }

    /// What the structural pass learned.
    struct CollectionBag {
        var bagInfo: [(label: String, value: String)]
        var manifestSHA256: [UInt8]?
        /// The walk of `data/`, running beside the other checks until `payloadPaths` joins it (nil when the
        /// caller asked for no walk).
        var payloadWalk: PayloadWalk?
        /// Where, among the report's checks, the walk's checks (`bagit.no-links`, `bagit.payload-oxum`) belong.
        var walkReportIndex: Int
        /// The bag's Payload-Oxum.
        var oxum: String

        /// Waits for the walk of `data/` and puts its checks in their place in the report (the first time); the
        /// multiset of the files found.
        func payloadPaths(into report: inout VerificationReport) -> PathMultiset {
            guard let payloadWalk else { return PathMultiset() }
            let (files, checks) = payloadWalk.finish(oxum: oxum)
            if let checks { report.checks.insert(contentsOf: checks, at: min(walkReportIndex, report.checks.count)) }
            return files
        }
    }

    /// BagIt checks of a collection bag: declaration, bag-info, tag manifests (streamed digests), no links or
    /// special files anywhere, the files under `data/` against Payload-Oxum and (as a multiset) the manifest.
    /// Without `walkingPayload` (a disclosure's source check, which reads only what it discloses) the files under
    /// `data/` are neither walked nor counted, and Payload-Oxum is not checked.
    func checkCollectionStructure(into report: inout VerificationReport,
                                  walkingPayload: Bool = true) -> CollectionBag? {
        guard let declaration = readTag(BundleLayout.declaration, into: &report) else { return nil }
        guard declaration == Array(BagIt.declaration.utf8) else {
            report.fail("bagit.declaration", "bagit.txt is not the BagIt 1.0 declaration")
            return nil
        }
        guard let infoBytes = readTag(BundleLayout.bagInfo, into: &report) else { return nil }
        let bagInfo: [(label: String, value: String)]
        do { bagInfo = try BagIt.parseBagInfo(infoBytes, name: BundleLayout.bagInfo) } catch {
            report.fail("bagit.declaration", "\(error)")
            return nil
        }
        report.pass("bagit.declaration", "BagIt 1.0, bag-info.txt with \(bagInfo.count) labels")
        // Everything outside data/: small and few; each must be a regular file or custody/.
        var tagFiles: [String] = []
        var structureOK = true
        for (directory, prefix) in [(root, ""), (root + "/" + BundleLayout.custodyDirectory, "custody/")] {
            let names: [String]
            do { names = try FileSystem.directoryEntries(directory) } catch {
                report.fail("bagit.no-links", "\(directory): \(error)")
                return nil
            }
            for name in names.sorted() {
                let relative = prefix + name
                guard let info = try? FileSystem.status(root + "/" + relative, followLinks: false) else { continue }
                let type = info.st_mode & S_IFMT
                if type == S_IFDIR && (relative == BundleLayout.payloadDirectory
                                       || relative == BundleLayout.custodyDirectory) { continue }
                if type != S_IFREG {
                    report.fail("bagit.no-links", "\(BagIt.printable(relative)): not a regular file (links and "
                        + "special files are never part of a bundle)")
                    structureOK = false
                    continue
                }
                if BundleLayout.tagManifests.map(BundleLayout.tagManifestName).contains(relative) { continue }
                tagFiles.append(relative)
            }
        }
        let oxum = bagInfo.first { $0.label == "Payload-Oxum" }?.value ?? ""
        let walkReportIndex = report.checks.count
        let walk: PayloadWalk?
        if walkingPayload {
            // The walk of data/ (a stat per payload file) runs on its own thread while the tag manifests, the seal
            // and the records are checked; its checks are put back in this place of the report when it is joined.
            walk = PayloadWalk(root: root, tagFilesOK: structureOK, tagFileCount: tagFiles.count)
        } else {
            walk = nil
            if structureOK {
                report.pass("bagit.no-links", "\(tagFiles.count) tag files, no links or special files (data/ not "
                    + "walked)")
            }
            report.skip("bagit.payload-oxum", "data/ not walked: only the disclosed payloads are read")
        }
        var manifestSHA256: [UInt8]?
        // Each tag file is read once for both tag manifests (a collection's records file is large).
        var digestCache: [String: [DigestAlgorithm: [UInt8]]] = [:]
        for algorithm in BundleLayout.tagManifests {
            let name = BundleLayout.tagManifestName(algorithm)
            guard let bytes = readTag(name, into: &report) else { continue }
            let entries: [(path: String, digest: [UInt8])]
            do { entries = try BagIt.parseManifest(bytes, name: name, algorithm: algorithm) } catch {
                report.fail("bagit.\(name)", "\(error)")
                continue
            }
            var problems: [String] = []
            var listed = Set<String>()
            for entry in entries {
                listed.insert(entry.path)
                guard tagFiles.contains(entry.path) else {
                    problems.append("\(BagIt.printable(entry.path)): listed but not a tag file of the bag")
                    continue
                }
                do {
                    let digests = try digestCache[entry.path]
                        ?? streamDigests(root + "/" + entry.path, BundleLayout.tagManifests + [.sha256])
                    digestCache[entry.path] = digests
                    if entry.path == BundleLayout.manifestName(.sha256) { manifestSHA256 = digests[.sha256] }
                    if !constantTimeEqual(digests[algorithm] ?? [], entry.digest) {
                        problems.append("\(BagIt.printable(entry.path)): \(algorithm.rawValue) differs (the file was "
                            + "changed after sealing)")
                    }
                } catch {
                    problems.append("\(BagIt.printable(entry.path)): \(error)")
                }
            }
            for file in tagFiles where !listed.contains(file) {
                problems.append("\(BagIt.printable(file)): not listed (added after sealing)")
            }
            if problems.isEmpty {
                report.pass("bagit.\(name)", "\(entries.count) tag files match")
            } else {
                for problem in problems { report.fail("bagit.\(name)", problem) }
            }
        }
        return CollectionBag(bagInfo: bagInfo, manifestSHA256: manifestSHA256, payloadWalk: walk,
                             walkReportIndex: walkReportIndex, oxum: oxum)
    }

    /// The SHA-256 (and `algorithms`) of a file inside the bag, read as a stream.
    func streamDigests(_ path: String, _ algorithms: [DigestAlgorithm]) throws -> [DigestAlgorithm: [UInt8]] {
        let descriptor = try BagTree.openRegular(path)
        defer { descriptor.close() }
        let digesters = Array(Set(algorithms)).map { Digester($0) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = try buffer.withUnsafeMutableBytes { try descriptor.read(into: $0) }
            if got == 0 { break }
            buffer.withUnsafeBytes { raw in
                for digester in digesters { digester.update(UnsafeRawBufferPointer(rebasing: raw[0..<got])) }
            }
        }
        var result: [DigestAlgorithm: [UInt8]] = [:]
        for digester in digesters { result[digester.algorithm] = digester.finalize() }
        return result
    }

    /// Checks the seal's signature and parses its v2 statement (bundle ID and tag manifest checked here; the
    /// items count and root once the records are read).
    func checkCollectionSeal(identities: [Identity], summary: inout BundleSummary,
                             into report: inout VerificationReport) -> CollectionSealStatement? {
        guard let bytes = readTag(BundleLayout.seal, into: &report) else { return nil }
        let note: SignedNote
        let verified: [NoteVerifierKey]
        do {
            note = try SignedNote.parse(bytes)
            verified = try note.verify(with: identities.map(\.verifierKey))
        } catch {
            report.fail("seal signature", "\(BundleLayout.seal): \(error)")
            return nil
        }
        guard let signer = verified.first, let identity = identities.first(where: { $0.name == signer.name }) else {
            report.fail("seal signature", "\(BundleLayout.seal): no signature by an identity in "
                + "\(BundleLayout.identities)")
            return nil
        }
        summary.sealer = identity
        let (status, detail) = describe(trust?.standing(name: identity.name, key: identity.publicKey),
                                        name: identity.name, keyID: identity.keyIDHex)
        report.checks.append(VerificationCheck("seal signature", status, detail))
        let statement: CollectionSealStatement
        do { statement = try CollectionSealStatement(text: note.text) } catch {
            report.fail("seal statement", "\(error)")
            return nil
        }
        var problems: [String] = []
        problems += sealedBagProblems(bundleID: statement.bundleID, tagManifestDigest: statement.tagManifestDigest,
                                      summary: summary)
        let count = summary.bagInfo.first { $0.label == "Custody-Item-Count" }?.value
        if count != String(statement.itemCount) {
            problems.append("bag-info's Custody-Item-Count \(count ?? "none") differs from the seal's "
                + "\(statement.itemCount)")
        }
        if problems.isEmpty {
            report.pass("seal statement", "bundle ID, tag manifest and the items root of \(statement.itemCount) "
                + "records match the seal")
        } else {
            for problem in problems { report.fail("seal statement", problem) }
        }
        return statement
    }

    /// The ledger must hold an `acquire` entry committing to the items root and count, and a `seal` entry naming
    /// the payload manifest's digest and the same root.
    func checkCollectionHistory(summary: BundleSummary, root: Hash32?, count: Int, manifestSHA256: [UInt8]?,
                                into report: inout VerificationReport) {
        guard !summary.entries.isEmpty else { return }
        let bundle = summary.bundleID ?? ""
        func commits(_ subject: LedgerSubject) -> Bool {
            subject.id == bundle && subject.attributes["items-root"]?.stringValue == root?.hex
                && subject.attributes["items"]?.intValue == Int64(count)
        }
        var problems: [String] = []
        if !summary.entries.contains(where: { $0.action == .acquire && $0.subjects.contains(where: commits) }) {
            problems.append("no acquire entry commits to the items root and count of \(BundleLayout.itemRecords)")
        }
        let seals = summary.entries.filter { $0.action == .seal }.flatMap(\.subjects).filter(commits)
        if seals.isEmpty {
            problems.append("no seal entry for bundle \(bundle) with its items root")
        } else if !seals.contains(where: {
            $0.attributes["manifest-sha256"]?.stringValue == manifestSHA256.map { Hex.encode($0) } }) {
            problems.append("the seal entry's manifest-sha256 differs from the SHA-256 of "
                + BundleLayout.manifestName(.sha256))
        }
        if problems.isEmpty {
            report.pass("custody history", "the acquire and seal entries commit to the items root, and the seal "
                + "entry to the payload manifest's digest")
        } else {
            for problem in problems { report.fail("custody history", problem) }
        }
    }

    /// One record's payload to check, with its manifest digests.
    struct PendingPayload: Sendable {
        var record: CollectionRecord
        var manifest: [DigestAlgorithm: [UInt8]]
        var leaves: [Hash32]?
        var problems: [String]
    }

    /// Reads the records, the payload manifests and the leaves in step; checks each record's form, its payload
    /// path, and (in parallel batches) its payload's stored digests and content.
    func checkRecords(bag: CollectionBag, into report: inout VerificationReport,
                      collection: inout CollectionVerification) {
        var reader: ItemRecordsReader
        do { reader = try ItemRecordsReader(path: root + "/" + BundleLayout.itemRecords) } catch {
            report.fail("items", "\(BundleLayout.itemRecords): \(error)")
            return
        }
        defer { reader.close() }
        var manifests: [(DigestAlgorithm, ManifestLineReader)] = []
        for algorithm in BundleLayout.payloadManifests {
            do {
                manifests.append((algorithm, try ManifestLineReader(root: root, algorithm: algorithm)))
            } catch {
                report.fail("bagit.\(BundleLayout.manifestName(algorithm))", "\(error)")
                return
            }
        }
        defer { for (_, manifest) in manifests { manifest.close() } }
        let leavesFile = try? BagTree.openRegular(root + "/" + BundleLayout.leavesFile)
        defer { leavesFile?.close() }
        var listed = PathMultiset()
        var batch: [PendingPayload] = []
        var structural: [String] = []
        var formOK = true
        // Double-buffered: while the workers check one batch, this thread reads the records, manifest lines and
        // leaves of the next (so the serial reading never leaves the cores idle), then takes the outcomes in order.
        let running = DispatchGroup()
        let finished = BatchOutcomes()
        var batchInFlight = false
        func collect() {
            guard batchInFlight else { return }
            running.wait()
            batchInFlight = false
            let outcomes = finished.take()
            if let itemOutcome {
                for outcome in outcomes { itemOutcome(outcome.record.number, outcome.record.displayPath,
                                                      outcome.problems) }
            }
            for outcome in outcomes where !outcome.problems.isEmpty {
                collection.failedCount += 1
                if collection.failedItems.count < CollectionVerification.failuresKept {
                    collection.failedItems.append((outcome.record.number, outcome.record.displayPath,
                                                   outcome.problems.joined(separator: "; ")))
                }
            }
        }
        func flush() {
            collect()
            guard !batch.isEmpty else { return }
            let work = batch, verifier = self
            batch = []
            batch.reserveCapacity(BatchOutcomes.batchSize)
            batchInFlight = true
            running.enter()
            DispatchQueue.global().async {
                finished.put(verifier.verifyBatch(work))
                running.leave()
            }
        }
        do {
            reading: while true {
                // The lines of the next batch are parsed on the workers (JSON, canonical form, payload name); this
                // thread then takes the records in order, in step with the manifests and the leaves.
                var lines: [(line: [UInt8], location: String)] = []
                var unreadable: (any Error)?
                do {
                    while lines.count < BatchOutcomes.batchSize, let next = try reader.nextLine() { lines.append(next) }
                } catch {
                    unreadable = error
                }
                for (index, parsed) in parseRecords(lines).enumerated() {
                    let (record, leafHash, problem) = try parsed.get()
                    try reader.accept(record, leafHash: leafHash, location: lines[index].location)
                    collection.items += 1
                    collection.kinds[record.kind, default: 0] += 1
                    if let error = record.error {
                        collection.acquisitionErrorCount += 1
                        if collection.acquisitionErrors.count < CollectionVerification.failuresKept {
                            collection.acquisitionErrors.append((record.number, record.displayPath, error))
                        }
                    }
                    if let problem {
                        structural.append("item \(record.number) (\(record.displayPath)): \(problem)")
                        formOK = false
                    }
                    guard let content = record.content else { continue }
                    collection.files += 1
                    collection.bytes += content.size
                    var pending = PendingPayload(record: record, manifest: [:], leaves: nil, problems: [])
                    for (algorithm, manifest) in manifests {
                        guard let line = try manifest.next() else {
                            structural.append("\(BundleLayout.manifestName(algorithm)) ends before item "
                                + "\(record.number)'s payload")
                            formOK = false
                            continue
                        }
                        if line.path != content.payload {
                            structural.append("\(BundleLayout.manifestName(algorithm)):\(manifest.lineNumber) "
                                + "lists \(BagIt.printable(line.path)) where item \(record.number)'s payload "
                                + "\(BagIt.printable(content.payload)) belongs")
                            formOK = false
                        }
                        if algorithm == .sha256 { listed.add(Array(line.path.utf8)) }
                        pending.manifest[algorithm] = line.digest
                    }
                    if content.chunkCount > 1 {
                        pending.leaves = readLeaves(leavesFile, content: content, problems: &pending.problems)
                    }
                    batch.append(pending)
                    if batch.count >= BatchOutcomes.batchSize { flush() }
                    if structural.count > 1000 { break reading }
                }
                if let unreadable { throw unreadable }
                if lines.count < BatchOutcomes.batchSize { break }
            }
            for (algorithm, manifest) in manifests {
                if let extra = try manifest.next() {
                    structural.append("\(BundleLayout.manifestName(algorithm)):\(manifest.lineNumber) lists "
                        + "\(BagIt.printable(extra.path)), which no record names")
                    formOK = false
                }
            }
        } catch {
            structural.append("\(error)")
            formOK = false
        }
        flush()
        collect()
        collection.itemsRoot = formOK ? reader.root : nil
        let payloadPaths = bag.payloadPaths(into: &report)
        if listed != payloadPaths {
            structural.append("the payload manifest lists \(listed.count) files, data/ holds "
                + "\(payloadPaths.count) others or more (a payload file was added, removed or renamed)")
            formOK = false
        }
        if formOK {
            let kinds = collection.kinds.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key.rawValue)" }
            report.pass("items", "\(collection.items) records (\(kinds.joined(separator: ", "))), each in canonical "
                + "form with its payload in both manifests")
        } else {
            for problem in structural.prefix(100) { report.fail("items", problem) }
            if structural.count > 100 { report.fail("items", "and \(structural.count - 100) more problems") }
        }
        if collection.failedCount == 0 {
            report.pass("items content", "\(collection.files) payload files match the manifests"
                + (fast ? "" : "; content (\(ByteSize.describe(collection.bytes))) re-hashed and matches"))
        } else {
            for failed in collection.failedItems.prefix(100) {
                report.fail("item \(failed.number) \(failed.path)", failed.problem)
            }
            if collection.failedCount > 100 {
                report.fail("items content", "and \(collection.failedCount - 100) more items failed")
            }
        }
        if fast { report.skip("items content", "content not decompressed or re-hashed (--fast)") }
        if collection.acquisitionErrorCount > 0 {
            report.warn("acquisition errors", "\(collection.acquisitionErrorCount) items were recorded with an error "
                + "at sealing (unreadable, vanished or changed): "
                + collection.acquisitionErrors.prefix(3).map { "\($0.path): \($0.error)" }.joined(separator: "; "))
        }
    }

    /// Parses record lines on the workers: each record, its leaf hash and what is wrong with its form, or the
    /// error that makes the line no record, in line order.
    private func parseRecords(_ lines: [(line: [UInt8], location: String)])
        -> [Result<(CollectionRecord, Hash32, String?), any Error>] {
        let results = Mutex([Result<(CollectionRecord, Hash32, String?), any Error>?](repeating: nil,
                                                                                       count: lines.count))
        DispatchQueue.concurrentPerform(iterations: lines.count) { index in
            let (line, location) = lines[index]
            let result = Result { () throws -> (CollectionRecord, Hash32, String?) in
                let record = try CollectionRecord(line: line, where: location)
                return (record, Merkle.leafHash(line), formProblem(record))
            }
            results.withLock { $0[index] = result }
        }
        return results.withLock { $0.map { $0! } }
    }

    private func formProblem(_ record: CollectionRecord) -> String? {
        let components = record.path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if record.path.contains(0) { return "its path holds a NUL" }
        if components.contains(where: { $0.isEmpty || $0.elementsEqual([46]) || $0.elementsEqual([46, 46]) }) {
            return "its path has an empty, '.' or '..' component"
        }
        switch record.kind {
        case .symlink where record.target == nil: return "a symbolic link without its target"
        case .hardlink where record.linkTo == nil: return "a hard link without 'linkTo'"
        case .file where record.content == nil && record.error == nil: return "a file with neither content nor error"
        default: break
        }
        if record.kind != .file && record.content != nil { return "a \(record.kind.rawValue) with content" }
        if let content = record.content {
            let suffix = content.encoding == .gzip ? ".gz" : ""
            let expected = PayloadNames.payloadPath(record.path, isDirectory: false, suffix: suffix)
            if content.payload != expected {
                return "payload \(BagIt.printable(content.payload)) is not the name its path gives "
                    + "(\(BagIt.printable(expected)))"
            }
        }
        return nil
    }

    private func readLeaves(_ file: FileDescriptor?, content: CollectionRecord.Content,
                            problems: inout [String]) -> [Hash32]? {
        guard let file, let offset = content.leavesOffset else {
            problems.append("no leaf list for its \(content.chunkCount) chunks in \(BundleLayout.leavesFile)")
            return nil
        }
        let count = Int(content.chunkCount)
        guard count <= 1 << 25 else {
            problems.append("\(count) chunks: more leaves than custody reads")
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: count * 32)
        let got = (try? bytes.withUnsafeMutableBytes { try file.readFully(into: $0, at: offset) }) ?? 0
        guard got == bytes.count else {
            problems.append("\(BundleLayout.leavesFile) ends before its \(count) leaves at byte \(offset)")
            return nil
        }
        let leaves = stride(from: 0, to: bytes.count, by: 32).map { Hash32(bytes[$0..<($0 + 32)])! }
        guard Merkle.root(leaves: leaves).hex == content.tree else {
            problems.append("its leaves in \(BundleLayout.leavesFile) do not hash to its tree digest")
            return nil
        }
        return leaves
    }

    /// Checks a batch of payloads in parallel (each: stored digests against the manifests and, unless fast, the
    /// content against the record).
    private func verifyBatch(_ batch: [PendingPayload]) -> [PendingPayload] {
        let results = Mutex([PendingPayload?](repeating: nil, count: batch.count))
        DispatchQueue.concurrentPerform(iterations: batch.count) { index in
            var item = batch[index]
            guard let content = item.record.content else { return }
            let path = root + "/" + content.payload
            // A small payload is read once, into memory: its manifest digests and its content from the same bytes.
            var bytes: [UInt8]?
            if content.storedSize <= CollectionVerification.wholeReadLimit {
                do {
                    bytes = try BagTree.readRegular(path, limit: CollectionVerification.wholeReadLimit)
                } catch {
                    item.problems.append("\(content.payload): \(error)")
                }
            }
            if item.problems.isEmpty {
                if let bytes {
                    for (algorithm, expected) in item.manifest.sorted(by: { $0.key < $1.key })
                        where !constantTimeEqual(Digester.digest(algorithm, bytes), expected) {
                        item.problems.append("\(content.payload): \(algorithm.rawValue) differs from "
                            + "manifest-\(algorithm.rawValue).txt (the payload file was changed)")
                    }
                } else if let problem = checkManifestDigests(path: path, expected: item.manifest,
                                                             payload: content.payload) {
                    item.problems.append(problem)
                }
            }
            if !fast && item.problems.isEmpty {
                item.problems += contentProblems(
                    payload: content.payload, encoding: content.encoding, size: content.size,
                    chunkSize: content.chunkSize, tree: content.tree, digests: content.digests,
                    leaves: content.chunkCount > 1 ? item.leaves : nil, path: path,
                    label: "item \(item.record.number)", stored: bytes)
            }
            let done = item
            results.withLock { $0[index] = done }
        }
        return results.withLock { $0.compactMap { $0 } }
    }
}

/// The walk of a collection bag's `data/` on a thread of its own: every file's path into a `PathMultiset`, their
/// bytes, and the `bagit.no-links` / `bagit.payload-oxum` checks, handed over once by `finish`.
final class PayloadWalk: Sendable {
    private struct Outcome: Sendable {
        var files = PathMultiset()
        var bytes: UInt64 = 0
        var problems: [String] = []
    }

    private let done = DispatchGroup()
    private let outcome = Mutex<Outcome?>(nil)
    private let reported = Mutex(false)
    private let tagFilesOK: Bool
    private let tagFileCount: Int

    /// Starts walking `root/data`; `tagFilesOK` and `tagFileCount` are what the listing outside `data/` found.
    init(root: String, tagFilesOK: Bool, tagFileCount: Int) {
        self.tagFilesOK = tagFilesOK
        self.tagFileCount = tagFileCount
        done.enter()
        DispatchQueue.global().async { self.walk(root) }
    }

    private func walk(_ root: String) {
        var result = Outcome()
        let walker = CollectionWalker(roots: [root + "/" + BundleLayout.payloadDirectory],
                                      options: WalkOptions(followRootLinks: false))
        while let entry = walker.next() {
            if let error = entry.error {
                result.problems.append("\(BagIt.printable(entry.relativePathString)): \(error)")
                continue
            }
            switch entry.kind {
            case .directory: continue
            case .regular:
                result.files.add(entry.relativePath)
                result.bytes += entry.metadata?.size ?? 0
            default:
                result.problems.append("\(BagIt.printable(entry.relativePathString)): a \(entry.kind.rawValue) "
                    + "(links and special files are never part of a bundle)")
            }
        }
        outcome.withLock { $0 = result }
        done.leave()
    }

    /// Waits for the walk; the files found and, the first time only, its checks against `oxum`.
    func finish(oxum: String) -> (PathMultiset, [VerificationCheck]?) {
        done.wait()
        let result = outcome.withLock { $0! }
        let first = reported.withLock { wasReported in
            defer { wasReported = true }
            return !wasReported
        }
        guard first else { return (result.files, nil) }
        var report = VerificationReport()
        for problem in result.problems { report.fail("bagit.no-links", problem) }
        if tagFilesOK && result.problems.isEmpty {
            report.pass("bagit.no-links", "\(result.files.count) payload files and \(tagFileCount) tag files, no "
                + "links or special files")
        }
        if oxum == "\(result.bytes).\(result.files.count)" {
            report.pass("bagit.payload-oxum", "Payload-Oxum \(oxum) matches data/")
        } else {
            report.fail("bagit.payload-oxum", "Payload-Oxum '\(oxum)' differs from data/ (\(result.bytes) bytes in "
                + "\(result.files.count) files)")
        }
        return (result.files, report.checks)
    }
}

/// The outcomes of the batch of payloads being checked on the workers, handed back to the reading thread.
final class BatchOutcomes: Sendable {
    /// Payloads per batch: enough that the barrier at its end is rare, few enough to bound memory.
    static let batchSize = 512
    private let outcomes = Mutex<[BundleVerifier.PendingPayload]>([])

    func put(_ value: [BundleVerifier.PendingPayload]) { outcomes.withLock { $0 = value } }

    func take() -> [BundleVerifier.PendingPayload] { outcomes.withLock { $0 } }
}

/// Reads a payload manifest one `HEX  PATH` line at a time.
final class ManifestLineReader {
    private let descriptor: FileDescriptor
    private var lines: LineReader
    private let algorithm: DigestAlgorithm
    private let name: String

    init(root: String, algorithm: DigestAlgorithm) throws {
        self.algorithm = algorithm
        name = BundleLayout.manifestName(algorithm)
        descriptor = try BagTree.openRegular(root + "/" + name)
        lines = LineReader(descriptor, maximumLength: 64 << 10)
    }

    var lineNumber: Int { lines.lineNumber }

    func close() { descriptor.close() }

    /// The next line's path and digest, or nil at the end.
    func next() throws -> (path: String, digest: [UInt8])? {
        let line: [UInt8]
        do {
            guard let next = try lines.next() else { return nil }
            line = next
        } catch {
            throw BundleError.manifestLineMalformed(file: name, line: lines.lineNumber + 1)
        }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw BundleError.tagFileNotUTF8(file: name)
        }
        let parsed = try BagIt.parseManifest(Array((text + "\n").utf8), name: name, algorithm: algorithm)
        guard let entry = parsed.first, parsed.count == 1 else {
            throw BundleError.manifestLineMalformed(file: name, line: lines.lineNumber)
        }
        return entry
    }
}
