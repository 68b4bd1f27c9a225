import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
#if canImport(Glibc)
import Glibc
#endif

/// What verifying a disclosure learned: the statement, who sealed and who disclosed, and when.
public struct DisclosureSummary: Sendable {
    /// The discloser's statement.
    public var statement: DisclosureStatement
    /// The sealing officer (signer of the original seal).
    public var sealer: Identity?
    /// When the original seal entry was recorded, and the original checkpoint's size.
    public var sealTime: Timestamp?, checkpointSize: UInt64?
    /// The discloser (signer of the statement).
    public var discloser: Identity?
    /// The disclosed records, ascending by number.
    public var records: [CollectionRecord] = []
    /// Content bytes disclosed (whole items' sizes and the ranges' lengths).
    public var disclosedBytes: UInt64 = 0

    /// The line `verify` prints: `12 of 48,210 items disclosed; sealed by NAME (FR) at T, checkpoint N; disclosed
    /// by NAME (DE) at T'`.
    public var line: String {
        func who(_ identity: Identity?) -> String {
            identity.map { "\($0.name) (\($0.jurisdiction))" } ?? "an unknown signer"
        }
        return "\(DisclosureSummary.grouped(UInt64(statement.items.count))) of "
            + "\(DisclosureSummary.grouped(statement.itemCount)) items disclosed; sealed by \(who(sealer)) at "
            + "\(sealTime.map(\.description) ?? "?"), checkpoint \(checkpointSize.map(String.init) ?? "?"); "
            + "disclosed by \(who(discloser)) at \(statement.time)"
    }

    /// `48210` as `48,210`.
    static func grouped(_ value: UInt64) -> String {
        var digits = Array(String(value))
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: index)
            index -= 3
        }
        return String(digits)
    }
}

/// What a disclosure holds, once verified: for the discloser narrowing it further.
struct DisclosureContents {
    struct Held {
        var record: CollectionRecord
        var proof: [Hash32]
        /// Chunks held and their proofs, for an item disclosed in ranges.
        var chunks: [UInt64: [Hash32]]?
    }
    var statement: DisclosureStatement
    var statementBytes: [UInt8]
    var seal: [UInt8], checkpoint: [UInt8], sealEntry: [UInt8], sealProof: [UInt8], identities: [UInt8]
    var records: [Held]
}

extension BundleVerifier {
    /// Whether the bag at `root` is a disclosure (it holds `custody/disclosure/statement.txt`).
    public static func isDisclosure(_ root: String) -> Bool {
        (try? FileSystem.status(root + "/" + BundleLayout.disclosureStatement, followLinks: false))
            .map { $0.st_mode & S_IFMT == S_IFREG } ?? false
    }

    /// Verifies a disclosure (SPEC.md section 5.14) into `report`: BagIt, the original seal and its ledger proof,
    /// the discloser's statement and ledger entry, each record's proof into the sealed items root, and every
    /// disclosed byte (whole items against their records, ranges chunk by chunk against the item's tree digest).
    /// Returns what it holds when it could be read (check `report.passed`).
    func verifyDisclosure(report: inout VerificationReport, summary: inout BundleSummary) -> DisclosureContents? {
        guard let structure = BagValidator(root: root).checkStructure(into: &report) else { return nil }
        summary.bagInfo = structure.bagInfo
        summary.bundleID = structure.bagInfoValue("External-Identifier")
        let identities = loadIdentities(into: &report)
        summary.identities = identities
        // The original seal: signature, statement, and its ledger entry proven in the original checkpoint.
        guard let sealBytes = readTag(BundleLayout.seal, into: &report),
              let statementBytes = readTag(BundleLayout.disclosureStatement, into: &report) else { return nil }
        guard let (sealer, seal) = signedText(sealBytes, name: "seal", identities: identities, into: &report) else {
            return nil
        }
        summary.sealer = sealer
        let sealed: CollectionSealStatement
        do { sealed = try CollectionSealStatement(text: seal) } catch {
            report.fail("seal statement", "\(error)")
            return nil
        }
        if sealed.bundleID == summary.bundleID {
            report.pass("seal statement", "the original seal of bundle \(sealed.bundleID): \(sealed.itemCount) items, "
                + "items root \(sealed.itemsRoot.hex) (its tag-manifest digest is not checked: the tag manifest "
                + "names withheld items and is not disclosed)")
        } else {
            report.fail("seal statement", "the seal names bundle \(sealed.bundleID), bag-info says "
                + "\(summary.bundleID ?? "none")")
        }
        checkLedger(keys: identities.map(\.verifierKey), identities: identities, summary: &summary, into: &report)
        let sealEntries = summary.entries.filter { entry in
            entry.action == .seal && entry.subjects.contains {
                $0.id == sealed.bundleID && $0.attributes["items-root"]?.stringValue == sealed.itemsRoot.hex
                    && $0.attributes["items"]?.intValue == Int64(sealed.itemCount)
            }
        }
        if let sealEntry = sealEntries.first, sealEntry.actor.keyID == sealer.keyIDHex {
            report.pass("custody history", "the seal entry \(sealEntry.sequence), by \(sealer.name), commits to the "
                + "items root and count")
        } else {
            report.fail("custody history", "no seal entry by the sealing officer commits to bundle "
                + "\(sealed.bundleID)'s items root and count")
        }
        // The discloser's statement and its ledger entry.
        guard let (discloser, text) = signedText(statementBytes, name: "disclosure statement", identities: identities,
                                                 into: &report) else { return nil }
        let statement: DisclosureStatement
        do { statement = try DisclosureStatement(text: text) } catch {
            report.fail("disclosure statement", "\(error)")
            return nil
        }
        var disclosure = DisclosureSummary(statement: statement, sealer: sealer, sealTime: sealEntries.first?.time,
                                           checkpointSize: summary.checkpoint?.size, discloser: discloser)
        var problems: [String] = []
        if statement.bundleID != sealed.bundleID { problems.append("it names bundle \(statement.bundleID)") }
        if statement.itemCount != sealed.itemCount || statement.itemsRoot != sealed.itemsRoot {
            problems.append("its items count and root differ from the seal's")
        }
        if Hash32(Digester.digest(.sha256, sealBytes)) != statement.sealDigest {
            problems.append("its seal digest is not the SHA-256 of \(BundleLayout.seal)")
        }
        if problems.isEmpty {
            report.pass("disclosure statement", "\(statement.items.count) of \(statement.itemCount) items disclosed, "
                + "\(statement.withheld) withheld; to '\(statement.recipient)'; legal basis '\(statement.legalBasis)'; "
                + "MLA reference '\(statement.mlaReference)'")
        } else {
            for problem in problems { report.fail("disclosure statement", problem) }
        }
        checkDisclosureLedger(statementBytes: statementBytes, statement: statement, discloser: discloser,
                              into: &report)
        let held = checkDisclosedRecords(statement: statement, structure: structure, into: &report)
        disclosure.records = held.map(\.record)
        disclosure.disclosedBytes = checkDisclosedContent(held, statement: statement, structure: structure,
                                                          into: &report)
        summary.disclosure = disclosure
        guard let checkpoint = readTag(BundleLayout.checkpoint, into: &report),
              let identityBytes = readTag(BundleLayout.identities, into: &report),
              let proofs = readTag(BundleLayout.proofs, into: &report),
              let sealEntry = sealEntries.first,
              let sealProof = (try? JSONValue.parse(proofs))?.arrayValue?.first(where: {
                  $0["index"]?.intValue == Int64(sealEntry.sequence) }) else { return nil }
        return DisclosureContents(statement: statement, statementBytes: statementBytes, seal: sealBytes,
                                  checkpoint: checkpoint, sealEntry: sealEntry.bytes,
                                  sealProof: sealProof.canonicalBytes, identities: identityBytes, records: held)
    }

    /// `verifyDisclosure` for the discloser, which needs only the report and contents.
    func verifyDisclosure(report: inout VerificationReport) -> DisclosureContents? {
        var summary = BundleSummary()
        return verifyDisclosure(report: &report, summary: &summary)
    }

    /// A signed note's signer (an identity of the bag) and text; the check `NAME signature` says whether the
    /// signer is trusted.
    private func signedText(_ bytes: [UInt8], name: String, identities: [Identity],
                            into report: inout VerificationReport) -> (Identity, String)? {
        do {
            let note = try SignedNote.parse(bytes)
            let verified = try note.verify(with: identities.map(\.verifierKey))
            guard let signer = verified.first, let identity = identities.first(where: {
                $0.name == signer.name && $0.verifierKey.keyID == signer.keyID }) else {
                report.fail("\(name) signature", "no valid signature by an identity in \(BundleLayout.identities)")
                return nil
            }
            let (status, detail) = describe(trust?.standing(name: identity.name, key: identity.publicKey),
                                            name: identity.name, keyID: identity.keyIDHex)
            report.checks.append(VerificationCheck("\(name) signature", status, detail))
            return (identity, note.text)
        } catch {
            report.fail("\(name) signature", "\(error)")
            return nil
        }
    }

    /// The discloser's `disclose` entry: signed by the statement's signer, committing to the statement's SHA-256,
    /// and proven in the discloser's checkpoint.
    private func checkDisclosureLedger(statementBytes: [UInt8], statement: DisclosureStatement, discloser: Identity,
                                       into report: inout VerificationReport) {
        guard let entryBytes = readTag(BundleLayout.disclosureEntry, into: &report),
              let proofBytes = readTag(BundleLayout.disclosureEntryProof, into: &report),
              let checkpointBytes = readTag(BundleLayout.disclosureCheckpoint, into: &report) else { return }
        do {
            var line = entryBytes
            guard line.last == 10 else {
                report.fail("disclosure ledger", "\(BundleLayout.disclosureEntry) is not one line")
                return
            }
            line.removeLast()
            let entry = try LedgerEntry.parse(line)
            let digest = Hex.encode(Digester.digest(.sha256, statementBytes))
            var problems: [String] = []
            if entry.action != .disclose { problems.append("entry \(entry.sequence) is not a disclose entry") }
            let signed = try entry.verifySignature(with: discloser.publicKey)
            if entry.actor.keyID != discloser.keyIDHex || !signed {
                problems.append("entry \(entry.sequence) is not signed by the discloser \(discloser.name)")
            }
            if !entry.subjects.contains(where: {
                $0.id == statement.bundleID && $0.attributes["statement-sha256"]?.stringValue == digest }) {
                problems.append("entry \(entry.sequence) does not commit to this statement's SHA-256")
            }
            let checkpoint = try Checkpoint.open(checkpointBytes, keys: [discloser.verifierKey])
            let proof = try InclusionProof(json: proofBytes, source: BundleLayout.disclosureEntryProof)
            if proof.index != entry.sequence {
                problems.append("the proof is for entry \(proof.index), not \(entry.sequence)")
            } else {
                do { try proof.check(leading: entry.leafHash, to: checkpoint) } catch {
                    problems.append("\(error)")
                }
            }
            if problems.isEmpty {
                report.pass("disclosure ledger", "entry \(entry.sequence) (disclose) in \(discloser.name)'s ledger "
                    + "commits to the statement, proven in checkpoint \(checkpoint.origin) size \(checkpoint.size)")
            } else {
                for problem in problems { report.fail("disclosure ledger", problem) }
            }
        } catch {
            report.fail("disclosure ledger", "\(error)")
        }
    }

    /// The records: one per statement item, in canonical form, each proven at its number into the items root;
    /// the chunk proofs of items disclosed in ranges are read here and checked with the content.
    private func checkDisclosedRecords(statement: DisclosureStatement, structure: BagValidator.Structure,
                                       into report: inout VerificationReport) -> [DisclosureContents.Held] {
        guard let recordBytes = readTag(BundleLayout.disclosureRecords, into: &report),
              let proofBytes = readTag(BundleLayout.disclosureRecordProofs, into: &report) else { return [] }
        var lines = recordBytes.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        guard lines.last == [] else {
            report.fail("records", "\(BundleLayout.disclosureRecords) does not end with a newline")
            return []
        }
        lines.removeLast()
        let proofs = (try? JSONValue.parse(proofBytes))?.arrayValue ?? []
        guard lines.count == statement.items.count, proofs.count == lines.count else {
            report.fail("records", "\(lines.count) records and \(proofs.count) proofs for the statement's "
                + "\(statement.items.count) items")
            return []
        }
        var chunkProofs: [Int: [UInt64: [Hash32]]] = [:]
        if statement.items.contains(where: { if case .ranges = $0.extent { true } else { false } }) {
            chunkProofs = readChunkProofs(into: &report)
        }
        var held: [DisclosureContents.Held] = []
        var problems: [String] = []
        var payloads = Set<String>()
        for (index, line) in lines.enumerated() {
            let number = statement.items[index].number
            let location = "\(BundleLayout.disclosureRecords):\(index + 1)"
            do {
                let record = try CollectionRecord(line: line, where: location)
                guard UInt64(record.number) == number, proofs[index]["n"]?.intValue == Int64(number),
                      let path = proofs[index]["proof"]?.arrayValue?
                          .compactMap({ $0.stringValue.flatMap(Hash32.init) }),
                      path.count == proofs[index]["proof"]?.arrayValue?.count, path.count <= 64 else {
                    problems.append("\(location): record \(number)'s line or proof is missing or out of order")
                    continue
                }
                if !MerkleProofs.verifyInclusion(leafHash: Merkle.leafHash(line).bytes, index: number - 1,
                                                 size: statement.itemCount, proof: path.map(\.bytes),
                                                 root: statement.itemsRoot.bytes) {
                    problems.append("item \(number) (\(record.displayPath)): its record is not proven in the sealed "
                        + "items root (record or proof changed)")
                    continue
                }
                if let content = record.content {
                    let suffix = content.encoding == .gzip ? ".gz" : ""
                    if content.payload != PayloadNames.payloadPath(record.path, isDirectory: false, suffix: suffix) {
                        problems.append("item \(number): payload name is not the one its path gives")
                        continue
                    }
                    payloads.insert(content.payload)
                }
                var chunks: [UInt64: [Hash32]]?
                if case .ranges = statement.items[index].extent {
                    guard record.content != nil else {
                        problems.append("item \(number): a range of an item without content")
                        continue
                    }
                    chunks = chunkProofs[Int(number)] ?? [:]
                }
                held.append(DisclosureContents.Held(record: record, proof: path, chunks: chunks))
            } catch {
                problems.append("\(error)")
            }
        }
        let listed = Set(structure.payload.keys)
        for extra in listed.subtracting(payloads).sorted() {
            problems.append("\(BagIt.printable(extra)): a payload no disclosed record names")
        }
        for missing in payloads.subtracting(listed).sorted() {
            problems.append("\(BagIt.printable(missing)): a disclosed record's payload is not in the bag")
        }
        if problems.isEmpty {
            report.pass("records", "\(held.count) records, each proven into the sealed items root "
                + "\(statement.itemsRoot.hex) of \(statement.itemCount)")
        } else {
            for problem in problems { report.fail("records", problem) }
        }
        return problems.isEmpty ? held : held.filter { $0.record.content.map { listed.contains($0.payload) } ?? true }
    }

    /// `chunks.json`: per item number, the chunk proofs by chunk index.
    private func readChunkProofs(into report: inout VerificationReport) -> [Int: [UInt64: [Hash32]]] {
        guard let bytes = readTag(BundleLayout.disclosureChunks, into: &report) else { return [:] }
        var result: [Int: [UInt64: [Hash32]]] = [:]
        guard let list = (try? JSONValue.parse(bytes))?.arrayValue else {
            report.fail("chunk proofs", "\(BundleLayout.disclosureChunks) is not a JSON array")
            return [:]
        }
        for entry in list {
            guard let number = entry["n"]?.intValue, let runs = entry["chunks"]?.arrayValue,
                  let proofs = entry["proofs"]?.arrayValue else {
                report.fail("chunk proofs", "\(BundleLayout.disclosureChunks): an entry without n, chunks, proofs")
                continue
            }
            var chunks: [UInt64] = []
            for run in runs {
                guard let pair = run.arrayValue, pair.count == 2, let first = pair[0].intValue,
                      let last = pair[1].intValue, first >= 0, first <= last, last - first < 1 << 25,
                      chunks.count + Int(last - first) < 1 << 25 else {
                    report.fail("chunk proofs", "item \(number): a chunk run that is not [FIRST,LAST]")
                    return [:]
                }
                chunks += (UInt64(first)...UInt64(last)).map { $0 }
            }
            guard chunks.count == proofs.count else {
                report.fail("chunk proofs", "item \(number): \(chunks.count) chunks but \(proofs.count) proofs")
                continue
            }
            var map: [UInt64: [Hash32]] = [:]
            for (chunk, proof) in zip(chunks, proofs) {
                let path = proof.arrayValue?.compactMap { $0.stringValue.flatMap(Hash32.init) } ?? []
                guard path.count == proof.arrayValue?.count, path.count <= 64 else {
                    report.fail("chunk proofs", "item \(number) chunk \(chunk): a proof that is not hex hashes")
                    continue
                }
                map[chunk] = path
            }
            result[Int(number)] = map
        }
        return result
    }

    /// Every disclosed payload against its record: whole items fully (manifests, size, tree, leaves, digests),
    /// ranges chunk by chunk (each chunk's leaf hash proven into the item's tree digest). Returns the content
    /// bytes disclosed.
    private func checkDisclosedContent(_ held: [DisclosureContents.Held], statement: DisclosureStatement,
                                       structure: BagValidator.Structure,
                                       into report: inout VerificationReport) -> UInt64 {
        var bytes: UInt64 = 0
        let extents = Dictionary(statement.items.map { (Int($0.number), $0.extent) }) { first, _ in first }
        for item in held {
            let record = item.record
            let name = "item \(record.number) \(record.displayPath)"
            guard let content = record.content else {
                report.pass(name, "record disclosed (a \(record.kind.rawValue); no stored content)")
                continue
            }
            let path = root + "/" + content.payload
            var problems: [String] = []
            if let expected = structure.payload[content.payload],
               let problem = checkManifestDigests(path: path, expected: expected, payload: content.payload) {
                problems.append(problem)
            }
            switch extents[record.number] ?? .whole {
            case .whole:
                problems += contentProblems(payload: content.payload, encoding: content.encoding, size: content.size,
                                            chunkSize: content.chunkSize, tree: content.tree, digests: content.digests,
                                            leaves: nil, path: path, label: "item \(record.number)")
                if problems.isEmpty {
                    bytes += content.size
                    report.pass(name, "whole: \(ByteSize.describe(content.size)), tree and "
                        + "\(content.digests.keys.sorted().joined(separator: ", ")) match the sealed record")
                }
            case .ranges(let ranges):
                let chunks = DisclosureChunks.covering(ranges, chunkSize: content.chunkSize)
                if let last = ranges.last, last.upperBound >= content.size {
                    problems.append("the statement's range ends at byte \(last.upperBound), past the item's "
                        + "\(content.size) bytes")
                }
                problems += checkChunks(chunks, proofs: item.chunks ?? [:], content: content, path: path)
                if problems.isEmpty {
                    bytes += ranges.reduce(0) { $0 + $1.upperBound - $1.lowerBound + 1 }
                    report.pass(name, "bytes " + ranges.map { "\($0.lowerBound)-\($0.upperBound)" }
                        .joined(separator: ",") + " of \(content.size): \(chunks.count) chunk"
                        + "\(chunks.count == 1 ? "" : "s") each proven into the sealed tree digest \(content.tree)")
                }
            }
            for problem in problems.prefix(20) { report.fail(name, problem) }
        }
        return bytes
    }

    /// Reads the chunks of a range payload and proves each one's leaf hash into the item's tree digest.
    private func checkChunks(_ chunks: [UInt64], proofs: [UInt64: [Hash32]], content: CollectionRecord.Content,
                             path: String) -> [String] {
        guard let tree = Hash32(hex: content.tree) else { return ["the tree digest is not hex"] }
        guard chunks.last.map({ $0 < content.chunkCount }) ?? false else {
            return ["the statement's ranges reach past the item's \(content.size) bytes"]
        }
        var problems: [String] = []
        do {
            let descriptor = try BagTree.openRegular(path)
            defer { descriptor.close() }
            var run: PackedMemberRun?
            if content.encoding == .gzip {
                run = try PackedMemberRun(descriptor: descriptor, expected: chunks, chunkSize: content.chunkSize)
            } else {
                let expected = chunks.reduce(UInt64(0)) {
                    $0 + UInt64(DisclosureChunks.length(of: $1, size: content.size, chunkSize: content.chunkSize))
                }
                if UInt64(try descriptor.status().st_size) != expected {
                    return ["\(content.payload): \(try descriptor.status().st_size) bytes, not the \(expected) of "
                        + "the chunks covering the ranges"]
                }
            }
            var offset: UInt64 = 0
            for (position, chunk) in chunks.enumerated() {
                let length = DisclosureChunks.length(of: chunk, size: content.size, chunkSize: content.chunkSize)
                let bytes: [UInt8]
                if let run {
                    bytes = try run.chunk(at: position)
                } else {
                    var raw = [UInt8](repeating: 0, count: length)
                    _ = try raw.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: offset) }
                    bytes = raw
                    offset += UInt64(length)
                }
                let start = chunk * UInt64(content.chunkSize)
                let place = "chunk \(chunk) (content bytes \(start)-\(start + UInt64(length) - 1))"
                guard bytes.count == length else {
                    problems.append("\(place): \(bytes.count) bytes, the item's chunk has \(length)")
                    continue
                }
                guard let proof = proofs[chunk] else {
                    problems.append("\(place): no proof in \(BundleLayout.disclosureChunks)")
                    continue
                }
                if !MerkleProofs.verifyInclusion(leafHash: Merkle.leafHash(bytes).bytes, index: chunk,
                                                 size: content.chunkCount, proof: proof.map(\.bytes),
                                                 root: tree.bytes) {
                    problems.append("\(place): not proven into the sealed tree digest (content or proof changed)")
                }
            }
        } catch {
            problems.append("\(error)")
        }
        return problems
    }
}
