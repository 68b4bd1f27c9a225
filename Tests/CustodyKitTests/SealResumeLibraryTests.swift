import Synchronization
import XCTest
import CustodyKit
@testable import CustodyBundle
@testable import CustodyEngine

/// Interrupted seals resumed through the library: the payload bytes, leaves, digests, bundle and item identifiers
/// of the resumed bundle are those of an uninterrupted seal of the same inputs, and the ledger gets the seal's
/// entries exactly once.
final class SealResumeLibraryTests: TemporaryDirectoryTestCase {
    private let chunk = 64 << 10

    private func makeKeyAndLedger(_ name: String = "ledger") throws -> (SigningKey, Ledger) {
        try CustodyKitTests.makeKeyAndLedger(at: directory + "/" + name)
    }

    /// Two inputs of mixed content (text, zeros, noise) so that members are deflated, stored and all-zero.
    private func writeInputs() throws -> [String] {
        var generator = SplitMix64(seed: 7)
        func content(_ size: Int) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: size)
            var offset = 0
            while offset < size {
                let run = min(size - offset, Int(generator.next() % 150_000) + 10_000)
                switch generator.next() % 3 {
                case 0:
                    for index in offset..<(offset + run) { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
                case 1: for index in offset..<(offset + run) { bytes[index] = UInt8(ascii: "a") + UInt8(index % 23) }
                default: break
                }
                offset += run
            }
            return bytes
        }
        let first = directory + "/disk-a.img", second = directory + "/disk-b.img"
        try FileSystem.writeAtomically(first, content(1_300_000))
        try FileSystem.writeAtomically(second, content(700_001))
        return [first, second]
    }

    /// Seal options; with `stopAfter`, `shouldStop` trips once that many bytes of the whole seal were read, and
    /// stays tripped (as the interrupt flag does); 0 trips it before anything is read.
    private func options(stopAfter bytes: UInt64? = nil, compress: Bool = true) -> SealOptions {
        var options = SealOptions()
        options.chunkSize = chunk
        options.compress = compress
        options.linearDigests = [.md5, .sha256]
        options.caseNumber = "CASE-1"
        options.syncChunks = 3
        guard let bytes else { return options }
        let stop = StopSwitch(bytes == 0)
        options.progress = { path, done in stop.record(path, done, limit: bytes) }
        options.shouldStop = { stop.isSet }
        return options
    }

    private func items(_ bundle: String) throws -> [[String: JSONValue]] {
        let json = try JSONValue.parse(try FileSystem.readFile(bundle + "/" + BundleLayout.items))
        return (json["items"]?.arrayValue ?? []).compactMap(\.objectValue)
    }

    /// Payload files, leaf lists and item metadata (apart from identifiers, times and the resume count) agree.
    private func assertSameContent(_ resumed: String, _ clean: String, file: StaticString = #filePath,
                                   line: UInt = #line) throws {
        let resumedItems = try items(resumed), cleanItems = try items(clean)
        XCTAssertEqual(resumedItems.count, cleanItems.count, file: file, line: line)
        for (mine, theirs) in zip(resumedItems, cleanItems) {
            for path in [mine["payload"], mine["leaves"]].compactMap({ $0?.stringValue }) {
                let resumedBytes = try FileSystem.readFile(resumed + "/" + path, limit: 1 << 30)
                let cleanBytes = try FileSystem.readFile(clean + "/" + path, limit: 1 << 30)
                guard resumedBytes != cleanBytes else { continue }
                // Name the first member that differs, rather than printing two payloads byte by byte.
                let resumedMembers = members(resumedBytes), cleanMembers = members(cleanBytes)
                let common = min(resumedMembers.count, cleanMembers.count)
                let firstDiffering = (0..<common).first { resumedMembers[$0] != cleanMembers[$0] }
                let pair = firstDiffering.map { "\(resumedMembers[$0]) vs \(cleanMembers[$0])" } ?? "none"
                XCTFail("\(path) differs from the clean run's: \(resumedMembers.count) vs \(cleanMembers.count) "
                    + "members; first differing member: \(pair)",
                    file: file, line: line)
            }
            var a = mine, b = theirs
            for key in ["id", "acquisitionStart", "acquisitionEnd", "resumed"] {
                a[key] = nil
                b[key] = nil
            }
            XCTAssertEqual(JSONValue.object(a), JSONValue.object(b), file: file, line: line)
        }
        XCTAssertEqual(try FileSystem.readFile(resumed + "/manifest-sha256.txt"),
                       try FileSystem.readFile(clean + "/manifest-sha256.txt"), file: file, line: line)
        let report = BundleVerifier(root: resumed).verify().report
        XCTAssertTrue(report.passed, "\(report.failures)", file: file, line: line)
    }

    /// Each member of a custody gzip payload: its index, flags, size and CRC-32, as its header and trailer say.
    private func members(_ bytes: [UInt8]) -> [String] {
        var found: [String] = [], offset = 0
        while offset + PackFormat.headerSize <= bytes.count {
            let parsed = bytes[offset...].withUnsafeBytes { PackFormat.MemberHeader.parse($0) }
            guard case .success(let header) = parsed, header.memberSize > 0,
                  offset + Int(header.memberSize) <= bytes.count else {
                found.append("unparsable at \(offset)")
                break
            }
            let end = offset + Int(header.memberSize)
            let crc = bytes[(end - 8)..<(end - 4)].map { String($0, radix: 16) }.joined()
            found.append("#\(header.index) flags \(header.flags.rawValue) size \(header.memberSize) crc \(crc)")
            offset = end
        }
        return found
    }

    private func journal(_ out: String) throws -> JSONValue {
        try JSONValue.parse(try FileSystem.readFile(SealJournal.path(workPath: BundleWriter.workPath(for: out).work)))
    }

    private func interruptAndResume(stopAfter bytes: UInt64, compress: Bool = true,
                                    damage: ((String) throws -> Void)? = nil) throws -> (SealResult, [String]) {
        let inputs = try writeInputs()
        let (key, ledger) = try makeKeyAndLedger()
        let clean = try BundleSealer.seal(paths: inputs, out: directory + "/clean", ledger: ledger, key: key,
                                          options: options(compress: compress))
        let sizeAfterClean = try ledger.size()
        let out = directory + "/bundle"
        let work = BundleWriter.workPath(for: out).work
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key,
                                                   options: options(stopAfter: bytes, compress: compress))) {
            XCTAssertTrue("\($0)".contains("interrupted: the partial seal of \(out) is kept in \(work)"), "\($0)")
        }
        XCTAssertFalse(FileSystem.exists(out))
        XCTAssertTrue(FileSystem.exists(SealJournal.path(workPath: work)))
        XCTAssertEqual(try ledger.size(), sizeAfterClean, "an interrupted seal must not touch the ledger")
        let bundleID = try journal(out)["bundle"]?.stringValue
        let completedIDs = (try journal(out)["completed"]?.arrayValue ?? []).compactMap { $0["record"]?["id"] }
        try damage?(work)
        let notices = Mutex<[String]>([])
        var resumeOptions = options(compress: compress)
        resumeOptions.notice = { text in notices.withLock { $0.append(text) } }
        let result = try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key, options: resumeOptions,
                                           resume: true)
        XCTAssertEqual(result.bundleID, bundleID, "the bundle keeps the identifier the interrupted seal chose")
        XCTAssertEqual(Array(result.items.map { JSONValue.string($0.id) }.prefix(completedIDs.count)), completedIDs)
        XCTAssertFalse(FileSystem.exists(work))
        XCTAssertFalse(FileSystem.exists(SealJournal.path(workPath: work)))
        XCTAssertEqual(try ledger.size(), sizeAfterClean + 3, "the resumed seal appends its 3 entries exactly once")
        try assertSameContent(out, directory + "/clean")
        XCTAssertEqual(clean.items.map(\.tree), result.items.map(\.tree))
        return (result, notices.withLock { $0 })
    }

    func testInterruptedBeforeAnyContentResumesToTheSameBundle() throws {
        let (result, _) = try interruptAndResume(stopAfter: 0)
        XCTAssertEqual(result.items.map(\.resumed), [1, 0])
    }

    func testInterruptedInsideTheFirstItemResumesToTheSameBundle() throws {
        let (result, notices) = try interruptAndResume(stopAfter: 5 * UInt64(chunk))
        XCTAssertEqual(result.items.map(\.resumed), [1, 0])
        XCTAssertTrue(notices.contains { $0.hasPrefix("resuming item 1 (disk-a.img) at ") }, "\(notices)")
        let verified = notices.first { $0.hasPrefix("item 1: ") }.flatMap { Int($0.split(separator: " ")[2]) }
        XCTAssertGreaterThan(verified ?? 0, 0, "the interrupted run's members are reused: \(notices)")
    }

    func testInterruptedInsideTheSecondItemResumesToTheSameBundle() throws {
        let (result, _) = try interruptAndResume(stopAfter: 1_300_000 + 4 * UInt64(chunk))
        XCTAssertEqual(result.items.map(\.resumed), [0, 1])
    }

    func testRawItemsResumeToTheSameBundle() throws {
        let (result, notices) = try interruptAndResume(stopAfter: 8 * UInt64(chunk), compress: false)
        XCTAssertEqual(result.items.first?.encoding, .raw)
        XCTAssertTrue(notices.contains { $0.contains("re-hashing what was written") }, "\(notices)")
        XCTAssertFalse(notices.contains { $0.contains(" at 0 bytes") }, "the durable chunks are reused: \(notices)")
    }

    func testGarbageAfterTheLastMemberIsCutAndPackedAgain() throws {
        let (_, notices) = try interruptAndResume(stopAfter: 6 * UInt64(chunk)) { work in
            let payload = try XCTUnwrap(try FileSystem.directoryEntries(work + "/data").first)
            let fd = try FileDescriptor.open(work + "/data/" + payload, O_WRONLY | O_APPEND)
            defer { fd.close() }
            try fd.writeAll([UInt8](repeating: 0x1f, count: 5000))
        }
        XCTAssertTrue(notices.contains { $0.contains("; cut 5000 bytes from chunk") }, "\(notices)")
    }

    func testAMemberCutShortIsDetectedAndPackedAgain() throws {
        let (_, notices) = try interruptAndResume(stopAfter: 6 * UInt64(chunk)) { work in
            let path = work + "/data/" + (try XCTUnwrap(try FileSystem.directoryEntries(work + "/data").first))
            let size = UInt64(try FileSystem.status(path).st_size)
            guard size > 1000 else { return XCTFail("the interrupted run wrote \(size) bytes") }
            let fd = try FileDescriptor.open(path, O_WRONLY)
            defer { fd.close() }
            try fd.truncate(to: size - 700)
        }
        XCTAssertTrue(notices.contains { $0.contains("cut ") }, "\(notices)")
    }

    func testACorruptMemberIsDetectedAndEverythingFromItPackedAgain() throws {
        let (_, notices) = try interruptAndResume(stopAfter: 8 * UInt64(chunk)) { work in
            let path = work + "/data/" + (try XCTUnwrap(try FileSystem.directoryEntries(work + "/data").first))
            let size = UInt64(try FileSystem.status(path).st_size)
            let fd = try FileDescriptor.open(path, O_WRONLY)
            defer { fd.close() }
            // Flip a byte in the middle of the file: inside some member's data or trailer.
            try [UInt8(0x55)].withUnsafeBytes { try fd.writeAll($0, at: size / 2) }
        }
        XCTAssertTrue(notices.contains { $0.contains("cut ") }, "\(notices)")
    }

    func testResumeRefusesOtherOptionsOrInputsAndKeepsThePartialSeal() throws {
        let inputs = try writeInputs()
        let (key, ledger) = try makeKeyAndLedger()
        let out = directory + "/bundle"
        let work = BundleWriter.workPath(for: out).work
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key,
                                                   options: options(stopAfter: 2 * UInt64(chunk))))
        var other = options()
        other.chunkSize = 128 << 10
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key, options: other,
                                                   resume: true)) { error in
            let difference = SealParameterDifference(parameter: .chunkSize, recorded: "65536", given: "131072")
            XCTAssertEqual(error as? SealError, .parametersDiffer(workPath: work, difference))
            XCTAssertEqual((error as? CustodyFailure)?.kind, .operational)
        }
        XCTAssertThrowsError(try BundleSealer.seal(paths: [inputs[0]], out: out, ledger: ledger, key: key,
                                                   options: options(), resume: true)) { error in
            guard case .parametersDiffer(_, let difference)? = error as? SealError else { return XCTFail("\(error)") }
            XCTAssertEqual(difference.parameter, .inputs)
        }
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key,
                                                   options: options())) { error in
            XCTAssertEqual(error as? SealError, .interruptedSealExists(finalPath: out, workPath: work))
            XCTAssertEqual("\(error)", "an interrupted seal of \(out) exists at \(work): resume it, or remove it")
        }
        XCTAssertTrue(FileSystem.exists(SealJournal.path(workPath: work)), "refusals keep the partial seal")
        // A source that changed since the interruption cannot be resumed.
        let fd = try FileDescriptor.open(inputs[0], O_WRONLY | O_APPEND)
        try fd.writeAll([1, 2, 3])
        fd.close()
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key,
                                                   options: options(), resume: true)) { error in
            XCTAssertTrue("\(error)".contains("changed since the interrupted seal"), "\(error)")
        }
        XCTAssertEqual(try ledger.size(), 0)
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: directory + "/none", ledger: ledger, key: key,
                                                   options: options(), resume: true)) { error in
            XCTAssertTrue("\(error)".contains("no interrupted seal of \(directory)/none to resume"), "\(error)")
        }
    }

    /// Seals `inputs` into `out` and fails after the ledger append, when the bundle is moved into place: a
    /// directory appears at `out` (made while the seal asks whether to stop), so the final rename fails.
    private func sealFailingAtTheRename(_ inputs: [String], out: String, ledger: Ledger, key: SigningKey) throws {
        var blocking = options()
        blocking.shouldStop = {
            try? FileSystem.createDirectory(out + "/in-the-way")
            return false
        }
        XCTAssertThrowsError(try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key,
                                                   options: blocking))
    }

    /// The process dies after the ledger append but before the bundle is moved into place (simulated by a
    /// directory appearing at OUT, which makes the final rename fail): resuming reuses the entries.
    func testDeathAfterTheLedgerAppendDoesNotAppendTwice() throws {
        let inputs = try writeInputs()
        let (key, ledger) = try makeKeyAndLedger()
        let out = directory + "/bundle"
        let work = BundleWriter.workPath(for: out).work
        try sealFailingAtTheRename(inputs, out: out, ledger: ledger, key: key)
        XCTAssertEqual(try ledger.size(), 3)
        XCTAssertTrue(FileSystem.exists(work), "after the ledger append the work directory is kept")
        XCTAssertEqual(try journal(out)["ledgerEntries"], .array([.int(0), .int(1), .int(2)]))
        FileSystem.removeTree(out)
        let result = try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key, options: options(),
                                           resume: true)
        XCTAssertEqual(result.entries, [0, 1, 2])
        XCTAssertEqual(try ledger.size(), 3)
        XCTAssertTrue(BundleVerifier(root: out).verify().report.passed)
    }

    /// Death between the append and the journal update: the journal has the ledger size before the append but
    /// no sequence numbers; the entries are found by their bundle identifier.
    func testEntriesAppendedButNotJournaledAreFoundAndReused() throws {
        let inputs = try writeInputs()
        let (key, ledger) = try makeKeyAndLedger()
        try ledger.append(try LedgerEntryDraft(action: .note, subjects: [], legalBasis: "", details: [:]), key: key)
        let out = directory + "/bundle"
        let work = BundleWriter.workPath(for: out).work
        try sealFailingAtTheRename(inputs, out: out, ledger: ledger, key: key)
        guard case .object(var members) = try journal(out) else { return XCTFail("journal is not an object") }
        XCTAssertEqual(members["ledgerFrom"], .int(1))
        members["ledgerEntries"] = nil
        try FileSystem.writeAtomically(SealJournal.path(workPath: work), JSONValue.object(members).canonicalBytes)
        FileSystem.removeTree(out)
        let notices = Mutex<[String]>([])
        var resumeOptions = options()
        resumeOptions.notice = { text in notices.withLock { $0.append(text) } }
        let result = try BundleSealer.seal(paths: inputs, out: out, ledger: ledger, key: key, options: resumeOptions,
                                           resume: true)
        XCTAssertEqual(result.entries, [1, 2, 3])
        XCTAssertEqual(try ledger.size(), 4)
        XCTAssertTrue(notices.withLock { $0 }.contains { $0.contains("not appending them again") })
        XCTAssertTrue(BundleVerifier(root: out).verify().report.passed)
    }

    /// The packer's resume point alone: packing the rest after a verified prefix gives the bytes and digests of
    /// one uninterrupted pack.
    func testPackerResumesFromAVerifiedPrefix() throws {
        var generator = SplitMix64(seed: 3)
        let content = (0..<(10 * chunk + 1234)).map { index -> UInt8 in
            index % 3 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : UInt8(index / 1000 % 256)
        }
        var packer = EvidencePacker(chunkSize: chunk, linearDigests: [.md5, .sha256], packedDigests: [.sha256])
        let whole = MemorySink()
        let expected = try packer.pack(MemoryChunkReader(content), to: whole)
        let path = directory + "/partial.gz"
        // An interrupted pack: the first 6 members and half of the 7th.
        try FileSystem.writeAtomically(path, Array(whole.bytes.prefix(Int(try memberEnd(whole.bytes, 6)) + 100)))
        let fd = try FileDescriptor.open(path, O_RDWR)
        defer { fd.close() }
        // The first 4 leaves are given as kept by the interrupted run; the others are computed.
        let prefix = try packer.verifyPrefix(of: fd, knownLeaves: Array(expected.leaves.prefix(4)))
        XCTAssertEqual(prefix.chunkCount, 6)
        XCTAssertEqual(prefix.validSize, try memberEnd(whole.bytes, 6))
        XCTAssertNotNil(prefix.stopReason)
        try fd.truncate(to: prefix.validSize)
        _ = try fd.seek(to: Int64(prefix.validSize))
        packer.resumePoint = prefix.resumePoint
        let resumed = try packer.pack(MemoryChunkReader(content), to: fd)
        XCTAssertEqual(try FileSystem.readFile(path), whole.bytes)
        XCTAssertEqual(resumed.digests, expected.digests)
        XCTAssertEqual(resumed.packedDigests, expected.packedDigests)
        XCTAssertEqual(resumed.packedDigests[.sha256], Digester.digest(.sha256, whole.bytes))
        XCTAssertEqual(resumed.digests[.sha256], Digester.digest(.sha256, content))
        XCTAssertEqual(resumed.treeRoot, expected.treeRoot)
        XCTAssertEqual(resumed.leaves, expected.leaves)
        XCTAssertEqual(resumed.packedSize, UInt64(whole.bytes.count))
        XCTAssertEqual(resumed.size, UInt64(content.count))
    }

    /// An interrupted pack leaves nothing running that holds its sink when it throws: a seal resumed at once (in
    /// the same process) must not find the interrupted run's payload writer, journal or work-directory lock still
    /// held by members being digested in the background. Large members make that digesting take milliseconds.
    func testAnInterruptedPackReleasesItsSinkBeforeItThrows() throws {
        let size = 8 << 20
        var generator = SplitMix64(seed: 11)
        var content = [UInt8](repeating: 0, count: 4 * size)
        content.withUnsafeMutableBytes { bytes in
            for word in 0..<(bytes.count / 8) {
                bytes.storeBytes(of: generator.next(), toByteOffset: word * 8, as: UInt64.self)
            }
        }
        var packer = EvidencePacker(chunkSize: size, linearDigests: [.sha256], packedDigests: [.sha256, .sha512])
        let read = Atomic<UInt64>(0)
        packer.progress = { read.store($0, ordering: .relaxed) }
        packer.shouldStop = { read.load(ordering: .relaxed) >= 2 * UInt64(size) }
        weak var released: MemorySink?
        do {
            let sink = MemorySink()
            released = sink
            XCTAssertThrowsError(try packer.pack(MemoryChunkReader(content), to: sink)) { error in
                XCTAssertEqual(error as? IOError, .interrupted)
            }
            XCTAssertGreaterThan(sink.bytes.count, size, "members were written before the interruption")
        }
        XCTAssertNil(released, "work of the interrupted pack still holds its sink after it threw")
    }

    /// End offset of the first `count` members (hopping over the size field of each header).
    private func memberEnd(_ bytes: [UInt8], _ count: Int) throws -> UInt64 {
        var offset = 0
        for _ in 0..<count {
            let size = bytes[(offset + 20)..<(offset + 24)].reversed().reduce(0) { $0 << 8 | Int($1) }
            offset += size
        }
        return UInt64(offset)
    }
}

/// The test's interrupt flag: set once the items' byte counts add up to the limit.
private final class StopSwitch: Sendable {
    private let state: Mutex<(set: Bool, done: [String: UInt64])>

    init(_ set: Bool) { state = Mutex((set, [:])) }

    var isSet: Bool { state.withLock { $0.set } }

    func record(_ path: String, _ bytes: UInt64, limit: UInt64) {
        state.withLock { state in
            state.done[path] = bytes
            if state.done.values.reduce(0, +) >= limit { state.set = true }
        }
    }
}
