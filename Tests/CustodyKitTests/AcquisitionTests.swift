import CustodyKit
import CustodyTestSupport
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class AcquisitionTests: XCTestCase {
    private let sector = 512
    private let chunkSize = 64 << 10

    /// Deterministic, non-repeating content so a misplaced byte changes every digest.
    private func content(_ count: Int) -> [UInt8] {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    private func zeroFilled(_ bytes: [UInt8], _ ranges: [BadRange]) -> [UInt8] {
        var copy = bytes
        for range in ranges {
            for index in Int(range.offset)..<Int(range.end) { copy[index] = 0 }
        }
        return copy
    }

    private func pipeline(readers: Int = 1) -> ChunkPipeline {
        ChunkPipeline(chunkSize: chunkSize, linearDigests: [.md5, .sha256], computeTree: true, readers: readers)
    }

    /// Runs the resilient reader over injected faults and checks the bad ranges and the digests, which must
    /// equal those of the zero-filled image computed by the plain pipeline.
    private func check(size: Int, faults: [FaultInjectingReader.Fault], expected: [BadRange],
                       mode: FaultInjectingReader.Mode = .error, readers: Int = 1,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = content(size)
        let log = BadSectorLog()
        let faulty = FaultInjectingReader(MemoryChunkReader(bytes), faults: faults, mode: mode)
        let reader = ResilientReader(faulty, policy: ReadPolicy(retries: 2, sectorSize: sector), log: log)
        let result = try pipeline(readers: readers).run(reader)
        XCTAssertEqual(log.ranges, expected, "bad ranges", file: file, line: line)
        let sectors = expected.reduce(UInt64(0)) { $0 + ($1.length + UInt64(sector) - 1) / UInt64(sector) }
        XCTAssertEqual(log.badSectors, sectors, "bad sector count", file: file, line: line)
        XCTAssertEqual(log.badBytes, expected.reduce(0) { $0 + $1.length }, file: file, line: line)
        let image = zeroFilled(bytes, expected)
        let reference = try pipeline().run(MemoryChunkReader(image))
        XCTAssertEqual(result.size, UInt64(size), file: file, line: line)
        XCTAssertEqual(result.treeRoot, reference.treeRoot, "tree digest of the zero-filled image",
                       file: file, line: line)
        XCTAssertEqual(result.digests, reference.digests, "linear digests of the zero-filled image",
                       file: file, line: line)
        // Independent of the pipeline: OpenSSL's one-shot SHA-256 over the zero-filled image.
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, image), file: file, line: line)
        if !expected.isEmpty {
            XCTAssertNotEqual(result.digests[.sha256], Digester.digest(.sha256, bytes), file: file, line: line)
        }
    }

    private func bad(_ firstSector: Int, _ count: Int = 1) -> FaultInjectingReader.Fault {
        .permanent(offset: UInt64(firstSector * sector), length: UInt64(count * sector))
    }

    private func range(_ firstSector: Int, _ count: Int = 1) -> BadRange {
        BadRange(offset: UInt64(firstSector * sector), length: UInt64(count * sector))
    }

    // MARK: Bad sectors

    func testCleanInputRecordsNothing() throws {
        try check(size: 300_000, faults: [], expected: [])
    }

    func testBadSectorAtStart() throws {
        try check(size: 300 * 1024, faults: [bad(0)], expected: [range(0)])
    }

    func testBadSectorInTheMiddle() throws {
        try check(size: 300 * 1024, faults: [bad(300)], expected: [range(300)])
    }

    func testBadSectorAtTheEnd() throws {
        let size = 300 * 1024
        try check(size: size, faults: [bad(size / sector - 1)], expected: [range(size / sector - 1)])
    }

    func testShortLastSectorOfAnImage() throws {
        // 1000 bytes past the last whole sector: the final, partial sector is bad.
        let size = 200 * 1024 + 1000
        let fault = FaultInjectingReader.Fault.permanent(offset: UInt64(400 * sector), length: 1000)
        try check(size: size, faults: [fault], expected: [BadRange(offset: UInt64(400 * sector), length: 1000)])
    }

    func testRunsAndIsolatedSectorsAcrossChunks() throws {
        // A run crossing the chunk boundary at 128 sectors, a lone sector, and two touching runs that merge.
        let faults = [bad(120, 20), bad(200), bad(500, 3), bad(503, 2), bad(599)]
        try check(size: 600 * sector, faults: faults,
                  expected: [range(120, 20), range(200), range(500, 5), range(599)])
    }

    func testShortReadsBeforeTheEndAreErrorsNotEndOfInput() throws {
        let faults = [bad(10), bad(129, 4), bad(300)]
        try check(size: 400 * sector, faults: faults, expected: [range(10), range(129, 4), range(300)],
                  mode: .shortRead)
    }

    func testConcurrentReadersRecordTheSameRanges() throws {
        let faults = [bad(0), bad(127, 2), bad(256, 300), bad(1023)]
        try check(size: 1024 * sector, faults: faults,
                  expected: [range(0), range(127, 2), range(256, 300), range(1023)], readers: 4)
    }

    func testTransientFaultsAreRecoveredByRetry() throws {
        let bytes = content(256 * sector)
        let faults: [FaultInjectingReader.Fault] = [
            .transient(offset: 0, length: UInt64(sector), failures: 1),
            .transient(offset: UInt64(200 * sector), length: UInt64(2 * sector), failures: 2),
        ]
        let log = BadSectorLog()
        let faulty = FaultInjectingReader(MemoryChunkReader(bytes), faults: faults)
        let reader = ResilientReader(faulty, policy: ReadPolicy(retries: 2, sectorSize: sector), log: log)
        let result = try pipeline().run(reader)
        XCTAssertTrue(log.isClean)
        XCTAssertEqual(log.ranges, [])
        XCTAssertEqual(log.recoveredReads, 2)
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, bytes))
        XCTAssertEqual(faulty.statistics.failures, 3)
    }

    func testTransientFaultOutlastingRetriesIsStillReadAtSectorLevel() throws {
        // Four failures with two retries: the chunk gives up, narrowing reads it on later attempts.
        let bytes = content(128 * sector)
        let log = BadSectorLog()
        let faulty = FaultInjectingReader(MemoryChunkReader(bytes),
                                          faults: [.transient(offset: UInt64(64 * sector), length: 512, failures: 4)])
        let reader = ResilientReader(faulty, policy: ReadPolicy(retries: 2, sectorSize: sector), log: log)
        let result = try pipeline().run(reader)
        XCTAssertEqual(log.ranges, [])
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, bytes))
    }

    func testNoRetriesStillNarrowsAndZeroFills() throws {
        let bytes = content(128 * sector)
        let log = BadSectorLog()
        let faulty = FaultInjectingReader(MemoryChunkReader(bytes), faults: [bad(5)])
        let reader = ResilientReader(faulty, policy: ReadPolicy(retries: 0, sectorSize: sector), log: log)
        _ = try pipeline().run(reader)
        XCTAssertEqual(log.ranges, [range(5)])
    }

    func testWithoutResilienceTheFaultEndsTheRun() throws {
        let faulty = FaultInjectingReader(MemoryChunkReader(content(128 * sector)), faults: [bad(5)])
        XCTAssertThrowsError(try pipeline().run(faulty)) { error in
            XCTAssertTrue("\(error)".contains("byte 0"), "\(error)")
        }
    }

    func testLargerSectorSizeWidensRanges() throws {
        // A 4096-byte sector granularity zero-fills the whole 4K sector around a 512-byte fault.
        let bytes = content(64 * 4096)
        let log = BadSectorLog()
        let faulty = FaultInjectingReader(MemoryChunkReader(bytes), faults: [bad(9)])
        let reader = ResilientReader(faulty, policy: ReadPolicy(retries: 1, sectorSize: 4096), log: log)
        let result = try pipeline().run(reader)
        XCTAssertEqual(log.ranges, [BadRange(offset: 4096, length: 4096)])
        XCTAssertEqual(log.badSectors, 1)
        let expected = zeroFilled(bytes, [BadRange(offset: 4096, length: 4096)])
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, expected))
    }

    func testStopRequestInterruptsNarrowing() throws {
        let faulty = FaultInjectingReader(MemoryChunkReader(content(128 * sector)), faults: [bad(0, 128)])
        let reader = ResilientReader(faulty, policy: ReadPolicy(retries: 1, sectorSize: sector), log: BadSectorLog(),
                                     shouldStop: { true })
        XCTAssertThrowsError(try pipeline().run(reader)) { error in
            XCTAssertEqual(error as? IOError, .interrupted)
        }
    }

    // MARK: Bad range JSON

    func testBadSectorLogJSONAndSummary() throws {
        let log = BadSectorLog()
        log.recordBad(offset: 1024, length: 512)
        log.recordBad(offset: 0, length: 512)
        log.recordBad(offset: 512, length: 512)
        log.recordBad(offset: 4096, length: 100)
        XCTAssertEqual(log.ranges, [BadRange(offset: 0, length: 1536), BadRange(offset: 4096, length: 100)])
        XCTAssertEqual(log.json.canonicalString,
                       #"{"badBytes":1636,"badRanges":[{"length":1536,"offset":0},{"length":100,"offset":4096}],"#
                           + #""badSectors":4,"recoveredReads":0}"#)
        XCTAssertEqual(try BadRange.parseList(log.json["badRanges"]!), log.ranges)
        XCTAssertTrue(log.summary!.contains("zero-filled image"))
        XCTAssertNil(BadSectorLog().summary)
    }

    func testBadSectorLogMergesInAnyOrder() throws {
        // Random bad sectors recorded in random order give the runs a plain bitmap scan finds.
        var state: UInt64 = 42
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<20 {
            var bad = [Bool](repeating: false, count: 400)
            for _ in 0..<next(120) { bad[next(400)] = true }
            var order = bad.indices.filter { bad[$0] }
            for index in order.indices.reversed() { order.swapAt(index, next(index + 1)) }
            let log = BadSectorLog()
            for sector in order { log.recordBad(offset: UInt64(sector * 512), length: 512) }
            var expected: [BadRange] = []
            var sector = 0
            while sector < bad.count {
                guard bad[sector] else {
                    sector += 1
                    continue
                }
                let start = sector
                while sector < bad.count && bad[sector] { sector += 1 }
                expected.append(BadRange(offset: UInt64(start * 512), length: UInt64((sector - start) * 512)))
            }
            XCTAssertEqual(log.ranges, expected)
            XCTAssertEqual(log.badSectors, UInt64(order.count))
        }
    }

    func testBadRangeListParserRejectsMalformedLists() throws {
        let cases = [
            #"{"offset":0}"#,
            #"[{"offset":0}]"#,
            #"[{"offset":0,"length":0}]"#,
            #"[{"offset":-1,"length":5}]"#,
            #"[{"offset":10,"length":5},{"offset":12,"length":1}]"#,
            #"[{"offset":10,"length":5},{"offset":15,"length":1}]"#,
            #"[{"offset":0,"length":5,"x":1}]"#,
        ]
        for text in cases {
            let json = try JSONValue.parse(Array(text.utf8))
            XCTAssertThrowsError(try BadRange.parseList(json), text)
        }
    }

    // MARK: Interrupts

    func testInterruptFlagStopsThePipeline() throws {
        InterruptFlag.reset()
        defer { InterruptFlag.reset() }
        var pipeline = pipeline()
        pipeline.shouldStop = InterruptFlag.shouldStop
        XCTAssertNoThrow(try pipeline.run(MemoryChunkReader(content(4096))))
        InterruptFlag.set(signal: SIGTERM)
        XCTAssertEqual(InterruptFlag.pendingSignal, SIGTERM)
        XCTAssertThrowsError(try pipeline.run(MemoryChunkReader(content(4096))))
        XCTAssertEqual(InterruptFlag.stoppedError(what: "nothing written").description,
                       "interrupted by SIGTERM: nothing written")
    }

    func testRealSignalSetsTheFlag() throws {
        InterruptFlag.reset()
        defer {
            InterruptFlag.uninstall()
            InterruptFlag.reset()
        }
        try InterruptFlag.install()
        XCTAssertFalse(InterruptFlag.isSet)
        raise(SIGINT)
        XCTAssertEqual(InterruptFlag.pendingSignal, SIGINT)
    }

    // MARK: Sources

    func testRegularFileSourceIsOpenedReadOnlyAndDescribed() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        let path = directory + "/image.dd"
        let bytes = content(5000)
        try FileSystem.writeAtomically(path, bytes)
        let source = try EvidenceSource.open(path)
        defer { source.close() }
        XCTAssertEqual(fcntl(source.descriptor.rawValue, F_GETFL) & O_ACCMODE, O_RDONLY)
        XCTAssertEqual(source.description, SourceDescription(path: path, kind: .file, size: 5000))
        let log = BadSectorLog()
        let result = try pipeline().run(source.resilientReader(log: log))
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, bytes))
        XCTAssertTrue(log.isClean)
        XCTAssertEqual(source.resilientReader(log: log).sectorSize, 512)
    }

    func testGeometryOfARegularFileIsAClearError() throws {
        let directory = try TestSupport.temporaryDirectory(self).path
        let path = directory + "/plain"
        try FileSystem.writeAtomically(path, [1, 2, 3])
        let descriptor = try FileDescriptor.openForReading(path)
        defer { descriptor.close() }
        XCTAssertThrowsError(try BlockDeviceGeometry.query(descriptor)) { error in
            guard case .deviceRequestFailed(path, _, _, notBlockDevice: true)? = error as? IOError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue("\(error)".hasPrefix("\(path): not a block device"), "\(error)")
        }
    }

    func testSourceDescriptionJSONRoundTrip() throws {
        var description = SourceDescription(path: "/dev/sdb", kind: .blockDevice, size: 500_107_862_016)
        description.logicalSectorSize = 512
        description.physicalSectorSize = 4096
        description.model = "WDC WD5000AAKX"
        description.serial = "WD-WCAYUJ123456"
        description.vendor = "ATA"
        description.rotational = true
        description.deviceName = "sdb"
        let json = description.json
        XCTAssertEqual(json["kind"], .string("blockDevice"))
        XCTAssertNil(json["backingFile"])
        XCTAssertEqual(try SourceDescription(json: json), description)
        let reparsed = try JSONValue.parse(json.canonicalBytes)
        XCTAssertEqual(try SourceDescription(json: reparsed), description)
        XCTAssertThrowsError(try SourceDescription(json: .object(["path": .string("x"), "kind": .string("tape")])))
        XCTAssertThrowsError(try SourceDescription(json: .object(["kind": .string("file")])))
        XCTAssertThrowsError(try SourceDescription(json: .object([
            "path": .string("x"), "kind": .string("file"), "size": .string("12"),
        ])))
    }

    // MARK: sysfs

    /// Builds a fake sysfs with a SATA disk and partition, an NVMe namespace, a virtio disk and a loop device,
    /// laid out as the kernel does (class/block and dev/block entries are symlinks into devices/).
    private func makeFakeSysfs() throws -> String {
        let root = try TestSupport.temporaryDirectory(self).path + "/sys"
        /// Writes each attribute of `device` (a path under `root`) as the kernel shows it: the value and a newline.
        func write(_ device: String, _ attributes: KeyValuePairs<String, String>) throws {
            for (name, value) in attributes {
                let path = root + "/" + device + "/" + name
                try FileSystem.createDirectory(FileSystem.parentDirectory(of: path))
                try FileSystem.writeAtomically(path, Array((value + "\n").utf8))
            }
        }
        func link(_ name: String, _ number: String, _ target: String) throws {
            try FileSystem.createDirectory(root + "/class/block")
            try FileSystem.createDirectory(root + "/dev/block")
            XCTAssertEqual(symlink("../../" + target, root + "/class/block/" + name), 0)
            XCTAssertEqual(symlink("../../" + target, root + "/dev/block/" + number), 0)
        }
        let sda = "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"
        try write(sda, ["dev": "8:0", "size": "976773168", "ro": "0", "removable": "0", "queue/rotational": "1",
                        "queue/logical_block_size": "512", "queue/physical_block_size": "4096",
                        "device/model": "WDC WD5000AAKX-0", "device/vendor": "ATA     "])
        // VPD page 0x80: code, page, length (big-endian), then the space-padded serial.
        let serial = Array("     WD-WCAYUJ123456".utf8)
        let page: [UInt8] = [0, 0x80, 0, UInt8(serial.count)] + serial
        try FileSystem.createDirectory(root + "/" + sda + "/device")
        try FileSystem.writeAtomically(root + "/" + sda + "/device/vpd_pg80", page)
        try write(sda + "/sda1", ["dev": "8:1", "partition": "1", "size": "2048", "ro": "1"])
        try link("sda", "8:0", sda)
        try link("sda1", "8:1", sda + "/sda1")

        let nvme = "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1"
        try write(nvme, ["dev": "259:0", "size": "2000409264", "queue/rotational": "0",
                         "device/model": "Samsung SSD 970 EVO Plus 1TB            ",
                         "device/serial": "S4EWNX0R123456A     "])
        try write(nvme + "/nvme0n1p2", ["dev": "259:2", "partition": "2", "size": "1000"])
        try link("nvme0n1", "259:0", nvme)
        try link("nvme0n1p2", "259:2", nvme + "/nvme0n1p2")

        let vda = "devices/pci0000:00/0000:00:04.0/virtio1/block/vda"
        try write(vda, ["dev": "253:0", "serial": "VIRTSERIAL", "device/vendor": "0x1af4"])
        try link("vda", "253:0", vda)

        let loop = "devices/virtual/block/loop3"
        try write(loop, ["dev": "7:3", "size": "8", "loop/backing_file": "/evidence/image with space.dd",
                         "queue/rotational": "1"])
        try link("loop3", "7:3", loop)
        return root
    }

    func testSysfsSATADiskAndPartition() throws {
        let root = try makeFakeSysfs()
        let disk = try XCTUnwrap(SysfsBlockInfo.lookup(major: 8, minor: 0, sysfsRoot: root))
        XCTAssertEqual(disk.name, "sda")
        XCTAssertNil(disk.parentName)
        XCTAssertEqual(disk.model, "WDC WD5000AAKX-0")
        XCTAssertEqual(disk.vendor, "ATA")
        XCTAssertEqual(disk.serial, "WD-WCAYUJ123456")
        XCTAssertEqual(disk.rotational, true)
        XCTAssertEqual(disk.size, 976_773_168 * 512)
        XCTAssertEqual(disk.logicalSectorSize, 512)
        XCTAssertEqual(disk.physicalSectorSize, 4096)
        XCTAssertEqual(disk.readOnly, false)

        let partition = try XCTUnwrap(SysfsBlockInfo.lookup(major: 8, minor: 1, sysfsRoot: root))
        XCTAssertEqual(partition.name, "sda1")
        XCTAssertEqual(partition.parentName, "sda")
        XCTAssertEqual(partition.partitionNumber, 1)
        XCTAssertEqual(partition.size, 2048 * 512)
        XCTAssertEqual(partition.readOnly, true)
        XCTAssertEqual(partition.model, "WDC WD5000AAKX-0", "the partition carries its disk's identity")
        XCTAssertEqual(partition.serial, "WD-WCAYUJ123456")
        XCTAssertEqual(SysfsBlockInfo.lookup(name: "sda1", sysfsRoot: root), partition)
    }

    func testSysfsNVMeVirtioAndLoop() throws {
        let root = try makeFakeSysfs()
        let namespace = try XCTUnwrap(SysfsBlockInfo.lookup(name: "nvme0n1p2", sysfsRoot: root))
        XCTAssertEqual(namespace.parentName, "nvme0n1")
        XCTAssertEqual(namespace.model, "Samsung SSD 970 EVO Plus 1TB")
        XCTAssertEqual(namespace.serial, "S4EWNX0R123456A")
        XCTAssertEqual(namespace.rotational, false)
        XCTAssertEqual(namespace.partitionNumber, 2)

        let virtio = try XCTUnwrap(SysfsBlockInfo.lookup(major: 253, minor: 0, sysfsRoot: root))
        XCTAssertEqual(virtio.serial, "VIRTSERIAL")
        XCTAssertNil(virtio.model)
        XCTAssertNil(virtio.rotational)

        let loop = try XCTUnwrap(SysfsBlockInfo.lookup(major: 7, minor: 3, sysfsRoot: root))
        XCTAssertEqual(loop.backingFile, "/evidence/image with space.dd")
        XCTAssertEqual(loop.size, 4096)

        var description = SourceDescription(path: "/dev/loop3", kind: .blockDevice)
        description.apply(loop)
        XCTAssertEqual(description.json["backingFile"], .string("/evidence/image with space.dd"))
        XCTAssertEqual(description.size, 4096)
    }

    func testSysfsUnknownDevicesAndHostileNames() throws {
        let root = try makeFakeSysfs()
        XCTAssertNil(SysfsBlockInfo.lookup(major: 9, minor: 9, sysfsRoot: root))
        XCTAssertNil(SysfsBlockInfo.lookup(name: "../sda", sysfsRoot: root))
        XCTAssertNil(SysfsBlockInfo.lookup(name: "", sysfsRoot: root))
        XCTAssertNil(SysfsBlockInfo.lookup(major: 8, minor: 0, sysfsRoot: root + "/missing"))
    }

    // MARK: A real block device

    /// A read-only loop device over a temporary file, when `losetup` works here (root, loop module).
    func testLoopDeviceGeometrySysfsAndReading() throws {
        guard getuid() == 0 else { throw XCTSkip("attaching a loop device needs root; running as uid \(getuid())") }
        let losetup = ["/usr/sbin/losetup", "/sbin/losetup", "/usr/bin/losetup"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let losetup else { throw XCTSkip("losetup is not installed; the loop device check needs it") }
        let directory = try TestSupport.temporaryDirectory(self).path
        let path = directory + "/disk.img"
        let bytes = content(3 * 65536 + 4096)
        try FileSystem.writeAtomically(path, bytes)
        let attach = try TestSupport.run(losetup, ["-f", "--show", "-r", path])
        let attached = String(decoding: attach.out, as: UTF8.self)
        guard attach.status == 0, attached.hasPrefix("/dev/loop") else {
            throw XCTSkip("losetup could not attach a loop device here: \(attach.err)")
        }
        let device = attached.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? TestSupport.run(losetup, ["-d", device]) }

        let source = try EvidenceSource.open(device)
        defer { source.close() }
        XCTAssertEqual(source.description.kind, .blockDevice)
        XCTAssertEqual(source.description.size, UInt64(bytes.count))
        XCTAssertEqual(source.description.logicalSectorSize, 512)
        XCTAssertEqual(source.description.backingFile, path)
        XCTAssertEqual("/dev/" + (source.description.deviceName ?? ""), device)
        let geometry = try BlockDeviceGeometry.query(source.descriptor)
        XCTAssertEqual(geometry.size, UInt64(bytes.count))
        let log = BadSectorLog()
        let result = try pipeline(readers: 2).run(source.resilientReader(log: log))
        XCTAssertTrue(log.isClean)
        XCTAssertEqual(result.digests[.sha256], Digester.digest(.sha256, bytes))
    }

    /// Fixed-decimal formatting used by the bench table: rounding, and no trap for values past 2^63.
    func testFormatFixedRoundsAndNeverTraps() {
        XCTAssertEqual(formatFixed(2.25, decimals: 1), "2.3")
        XCTAssertEqual(formatFixed(-0.04, decimals: 1), "0.0")
        XCTAssertEqual(formatFixed(1234.5678, decimals: 2), "1234.57")
        XCTAssertEqual(formatFixed(1e20, decimals: 1), "1e+20")
    }
}
