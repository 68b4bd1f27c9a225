import CustodyKit
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The collection walker: every kind of entry recorded, nothing followed or blocked on, deep and odd trees, errors
/// as entries, bounded descriptors.
final class CollectionWalkerTests: TemporaryDirectoryTestCase {
    private func walk(_ roots: [String]? = nil, _ options: WalkOptions = WalkOptions()) -> [WalkEntry] {
        Array(CollectionWalker(roots: roots ?? [directory], options: options))
    }

    private func relative(_ entries: [WalkEntry]) -> [String] {
        entries.map { $0.relativePathString }
    }

    private func write(_ name: String, _ bytes: [UInt8] = []) throws {
        let fd = try FileDescriptor.open(directory + "/" + name, O_WRONLY | O_CREAT | O_TRUNC)
        try fd.writeAll(bytes)
        fd.close()
    }

    private func openDescriptorCount() -> Int {
        (try? FileSystem.directoryEntries("/proc/self/fd").count) ?? 0
    }

    private var rootName: String { String(directory.split(separator: "/").last!) }

    func testEmptyDirectoryIsOneEntry() {
        let entries = walk()
        XCTAssertEqual(entries.count, 1)
        XCTAssertEqual(entries[0].kind, .directory)
        XCTAssertNil(entries[0].error)
        XCTAssertEqual(entries[0].relativePathString, rootName)
        XCTAssertEqual(entries[0].pathString, directory)
        XCTAssertEqual(entries[0].depth, 0)
    }

    func testOneFileWithMetadata() throws {
        try write("a.txt", Array("hello".utf8))
        let entries = walk()
        XCTAssertEqual(relative(entries), [rootName, rootName + "/a.txt"])
        let file = entries[1]
        XCTAssertEqual(file.kind, .regular)
        XCTAssertEqual(file.pathString, directory + "/a.txt")
        XCTAssertEqual(file.depth, 1)
        let metadata = try XCTUnwrap(file.metadata)
        var info = stat()
        XCTAssertEqual(lstat(directory + "/a.txt", &info), 0)
        XCTAssertEqual(metadata.size, 5)
        XCTAssertEqual(metadata.inode, UInt64(info.st_ino))
        XCTAssertEqual(metadata.device, UInt64(info.st_dev))
        XCTAssertEqual(metadata.mode, UInt32(info.st_mode))
        XCTAssertEqual(metadata.uid, info.st_uid)
        XCTAssertEqual(metadata.linkCount, 1)
        XCTAssertEqual(metadata.modified, WalkTime(seconds: Int64(info.st_mtim.tv_sec),
                                                   nanoseconds: UInt32(info.st_mtim.tv_nsec)))
        XCTAssertEqual(metadata.changed, WalkTime(seconds: Int64(info.st_ctim.tv_sec),
                                                  nanoseconds: UInt32(info.st_ctim.tv_nsec)))
        XCTAssertFalse(metadata.isSparse)
        XCTAssertNil(file.hardLinkTarget)
        XCTAssertNil(file.openFile)
    }

    func testRootGivenWithTrailingSlashAndAFileRoot() throws {
        try write("f", [1])
        let entries = walk([directory + "/", directory + "/f"])
        XCTAssertEqual(entries.map(\.pathString), [directory + "/", directory + "/f", directory + "/f"])
        XCTAssertEqual(relative(entries), [rootName, rootName + "/f", "f"])
        XCTAssertEqual(entries.map(\.rootIndex), [0, 0, 1])
    }

    func testMissingRootIsAnEntryWithError() {
        let entries = walk([directory + "/nothing"])
        XCTAssertEqual(entries.count, 1)
        XCTAssertEqual(entries[0].kind, .unknown)
        XCTAssertEqual(entries[0].errorCode, ENOENT)
        XCTAssertEqual(entries[0].error, "stat: No such file or directory")
    }

    func testFourThousandAndOneFilesInByteOrder() throws {
        var names: [String] = []
        for index in 0..<4001 {
            let name = "f\((index * 7919) % 4001)"
            names.append(name)
            try write(name)
        }
        let entries = walk()
        XCTAssertEqual(entries.count, 4002)
        let found = entries.dropFirst().map { String($0.relativePathString.dropFirst(rootName.count + 1)) }
        let expected = names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        XCTAssertEqual(found, expected)
        XCTAssertTrue(entries.dropFirst().allSatisfy { $0.kind == .regular && $0.error == nil })
    }

    /// 200 levels of 40-byte names: the path (8,000 bytes) is longer than PATH_MAX, and only 4 descriptors may stay
    /// open, so the walk reopens levels through `..` on the way back.
    func testTwoHundredLevelsPastPathMaxWithFourOpenDirectories() throws {
        let component = String(repeating: "d", count: 40)
        var fd = open(directory, O_RDONLY | O_DIRECTORY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        for _ in 0..<200 {
            XCTAssertEqual(mkdirat(fd, component, 0o755), 0)
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
        }
        let file = openat(fd, "bottom", O_WRONLY | O_CREAT, 0o644)
        XCTAssertGreaterThanOrEqual(file, 0)
        close(file)
        close(fd)
        // A sibling after the deep branch must still be found once the walk climbs back.
        try write("zz-after", [7])
        defer { removeDeep(levels: 200, component: component) }

        let before = openDescriptorCount()
        let entries = walk(nil, WalkOptions(maximumOpenDirectories: 4))
        XCTAssertEqual(openDescriptorCount(), before)
        XCTAssertEqual(entries.count, 1 + 200 + 1 + 1)
        XCTAssertTrue(entries.allSatisfy { $0.error == nil }, "\(entries.compactMap(\.error).prefix(3))")
        let bottom = entries[201]
        XCTAssertEqual(bottom.kind, .regular)
        XCTAssertEqual(bottom.depth, 201)
        XCTAssertEqual(bottom.path.count, directory.utf8.count + 201 * 41 - 40 + 6)
        XCTAssertGreaterThan(bottom.path.count, Int(PATH_MAX))
        XCTAssertEqual(entries.last?.relativePathString, rootName + "/zz-after")
    }

    private func removeDeep(levels: Int, component: String) {
        // rm -rf copes with paths past PATH_MAX.
        _ = try? TestSupport.run("/bin/rm", ["-rf", directory + "/" + component])
    }

    func testNamesThatNeedEscapingComeBackAsExactBytes() throws {
        let names: [[UInt8]] = [
            Array("line\nfeed".utf8), Array("carriage\rreturn".utf8), Array("per%cent".utf8),
            Array("back\\slash".utf8), [0x6C, 0x61, 0x74, 0x69, 0x6E, 0xE9, 0xFF], Array("Ω café".utf8),
        ]
        for name in names {
            let path = Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0]
            let fd = path.withUnsafeBufferPointer {
                $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
            }
            XCTAssertGreaterThanOrEqual(fd, 0)
            close(fd)
        }
        let entries = walk()
        let prefix = Array(rootName.utf8) + [UInt8(ascii: "/")]
        let found = entries.dropFirst().map { Array($0.relativePath.dropFirst(prefix.count)) }
        XCTAssertEqual(found, names.sorted { $0.lexicographicallyPrecedes($1) })
        XCTAssertTrue(entries.allSatisfy { $0.error == nil && $0.metadata != nil })
        // The string form names the same file when it meets the system again.
        for entry in entries.dropFirst() {
            XCTAssertNoThrow(try FileSystem.status(entry.pathString, followLinks: false))
        }
    }

    func testSymbolicLinksAreRecordedNotFollowed() throws {
        try FileSystem.createDirectory(directory + "/sub")
        try write("sub/file", [1, 2, 3])
        XCTAssertEqual(symlink("b", directory + "/a"), 0)
        XCTAssertEqual(symlink("a", directory + "/b"), 0)
        XCTAssertEqual(symlink("..", directory + "/sub/up"), 0)
        XCTAssertEqual(symlink("/nonexistent/target", directory + "/dangling"), 0)
        let entries = walk()
        XCTAssertEqual(relative(entries).map { String($0.dropFirst(rootName.count)) },
                       ["", "/a", "/b", "/dangling", "/sub", "/sub/file", "/sub/up"])
        let links = entries.filter { $0.kind == .symlink }
        XCTAssertEqual(links.map { String(decoding: $0.symlinkTarget ?? [], as: UTF8.self) },
                       ["b", "a", "/nonexistent/target", ".."])
        XCTAssertTrue(entries.allSatisfy { $0.error == nil })
    }

    func testFIFOAndSocketAreRecordedNeverOpened() throws {
        XCTAssertEqual(mkfifo(directory + "/pipe", 0o644), 0)
        let socketPath = directory + "/sock"
        let socketFD = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(socketFD, 0)
        defer { close(socketFD) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in socketPath.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if bound != 0 { throw XCTSkip("cannot bind a Unix socket in \(directory): errno \(errno)") }
        // Opening regular files too: a FIFO must still not be opened (it would block without a writer).
        let entries = walk(nil, WalkOptions(opensRegularFiles: true))
        XCTAssertEqual(entries.map(\.kind), [.directory, .fifo, .socket])
        XCTAssertTrue(entries.allSatisfy { $0.openFile == nil && $0.error == nil })
    }

    func testUnreadableDirectoryIsAnEntryWithError() throws {
        if getuid() == 0 {
            throw XCTSkip("running as root, which reads any directory; HashCommandTests covers this by running "
                          + "custody as nobody (setpriv)")
        }
        try FileSystem.createDirectory(directory + "/locked")
        try write("locked/secret", [1])
        try write("z", [2])
        XCTAssertEqual(chmod(directory + "/locked", 0), 0)
        defer { chmod(directory + "/locked", 0o755) }
        let entries = walk()
        XCTAssertEqual(relative(entries).map { String($0.dropFirst(rootName.count)) }, ["", "/locked", "/z"])
        XCTAssertEqual(entries[1].kind, .directory)
        XCTAssertEqual(entries[1].errorCode, EACCES)
        XCTAssertEqual(entries[1].error, "open directory: Permission denied")
    }

    func testHardLinksNameTheFirstPath() throws {
        try write("a", [1])
        XCTAssertEqual(link(directory + "/a", directory + "/b"), 0)
        XCTAssertEqual(link(directory + "/a", directory + "/c"), 0)
        try write("d", [2])
        let entries = walk()
        XCTAssertEqual(entries.map { $0.hardLinkTarget.map { String(decoding: $0, as: UTF8.self) } },
                       [nil, nil, rootName + "/a", rootName + "/a", nil])
        XCTAssertEqual(entries[2].metadata?.linkCount, 3)
    }

    func testEmptyDirectoriesAreEntries() throws {
        try FileSystem.createDirectory(directory + "/empty1")
        try FileSystem.createDirectory(directory + "/full/empty2")
        let entries = walk()
        XCTAssertEqual(relative(entries).map { String($0.dropFirst(rootName.count)) },
                       ["", "/empty1", "/full", "/full/empty2"])
        XCTAssertTrue(entries.allSatisfy { $0.kind == .directory })
    }

    func testExtendedAttributesReadAndBounded() throws {
        try write("tagged", [1])
        try FileSystem.createDirectory(directory + "/folder")
        let set = try TestSupport.run("/usr/bin/python3", ["-c", """
            import os, sys
            os.setxattr(sys.argv[1] + '/tagged', 'user.origin', b'phone \\xff')
            os.setxattr(sys.argv[1] + '/tagged', 'user.case', b'42')
            os.setxattr(sys.argv[1] + '/folder', 'user.note', b'd')
            """, directory])
        if set.status != 0 { throw XCTSkip("the file system refuses user extended attributes: \(set.err)") }
        let plain = walk()
        XCTAssertTrue(plain.allSatisfy { $0.extendedAttributes == nil })

        for opens in [false, true] {
            let entries = walk(nil, WalkOptions(readsExtendedAttributes: true, opensRegularFiles: opens))
            let tagged = try XCTUnwrap(entries.first { $0.relativePathString.hasSuffix("/tagged") })
            XCTAssertEqual(tagged.extendedAttributes, [
                ExtendedAttribute(name: Array("user.case".utf8), value: Array("42".utf8)),
                ExtendedAttribute(name: Array("user.origin".utf8), value: Array("phone ".utf8) + [0xFF]),
            ])
            let folder = try XCTUnwrap(entries.first { $0.relativePathString.hasSuffix("/folder") })
            XCTAssertEqual(folder.extendedAttributes, [ExtendedAttribute(name: Array("user.note".utf8), value: [100])])
            tagged.openFile?.close()
        }

        let bounded = walk(nil, WalkOptions(readsExtendedAttributes: true, extendedAttributeLimit: 24))
        let tagged = try XCTUnwrap(bounded.first { $0.relativePathString.hasSuffix("/tagged") })
        XCTAssertNil(tagged.extendedAttributes)
        XCTAssertEqual(tagged.errorCode, E2BIG)
        XCTAssertEqual(tagged.error, "extended attributes: more than 24 B, not recorded")
        XCTAssertNotNil(tagged.metadata)
    }

    func testSparseFileIsSeen() throws {
        let fd = try FileDescriptor.open(directory + "/sparse", O_WRONLY | O_CREAT)
        try fd.truncate(to: 64 << 20)
        fd.close()
        try write("dense", [UInt8](repeating: 1, count: 65536))
        let entries = walk()
        let sparse = try XCTUnwrap(entries.first { $0.relativePathString.hasSuffix("/sparse") }?.metadata)
        XCTAssertEqual(sparse.size, 64 << 20)
        XCTAssertLessThan(sparse.allocatedBytes, sparse.size)
        XCTAssertTrue(sparse.isSparse)
        let dense = try XCTUnwrap(entries.first { $0.relativePathString.hasSuffix("/dense") }?.metadata)
        XCTAssertFalse(dense.isSparse)
    }

    /// Files removed between the listing and their turn: entries with the system's reason, and the walk goes on.
    func testEntriesVanishingMidWalk() throws {
        try write("a", [1])
        try write("b", [2])
        try FileSystem.createDirectory(directory + "/c/inner")
        try write("d", [3])
        let walker = CollectionWalker(roots: [directory], options: WalkOptions(opensRegularFiles: true))
        var entries: [WalkEntry] = []
        while let entry = walker.next() {
            entries.append(entry)
            entry.openFile?.close()
            if entry.relativePathString.hasSuffix("/a") {
                XCTAssertEqual(unlink(directory + "/b"), 0)
                XCTAssertEqual(rmdir(directory + "/c/inner"), 0)
                XCTAssertEqual(rmdir(directory + "/c"), 0)
            }
        }
        XCTAssertEqual(relative(entries).map { String($0.dropFirst(rootName.count)) }, ["", "/a", "/b", "/c", "/d"])
        XCTAssertEqual(entries[2].kind, .regular)
        XCTAssertEqual(entries[2].errorCode, ENOENT)
        XCTAssertNil(entries[2].metadata)
        XCTAssertEqual(entries[3].kind, .directory)
        XCTAssertEqual(entries[3].error, "stat: No such file or directory")
        XCTAssertNil(entries[4].error)
    }

    func testOpenedFilesAreTheFilesWalked() throws {
        try write("x", Array("content of x".utf8))
        try FileSystem.createDirectory(directory + "/sub")
        try write("sub/y", Array("y".utf8))
        let before = openDescriptorCount()
        let entries = walk(nil, WalkOptions(opensRegularFiles: true))
        XCTAssertEqual(entries.filter { $0.openFile != nil }.count, 2)
        for entry in entries where entry.kind == .regular {
            let file = try XCTUnwrap(entry.openFile)
            let bytes = try file.readToEnd(limit: 1 << 20)
            XCTAssertEqual(bytes, try FileSystem.readFile(entry.pathString))
            file.close()
        }
        XCTAssertEqual(openDescriptorCount(), before)
    }

    func testInodeOrder() throws {
        for name in ["m", "a", "z", "b"] { try write(name) }
        let entries = walk(nil, WalkOptions(order: .inode)).dropFirst()
        let inodes = entries.map { $0.metadata!.inode }
        XCTAssertEqual(inodes, inodes.sorted())
        XCTAssertEqual(Set(entries.map(\.relativePathString)).count, 4)
    }

    func testPhysicalOrderPutsDirectoriesFirstAndKeepsEveryEntry() throws {
        for name in ["m", "a", "z"] { try write(name, [UInt8](repeating: 9, count: 8192)) }
        try FileSystem.createDirectory(directory + "/zdir")
        let entries = walk(nil, WalkOptions(order: .physical))
        XCTAssertEqual(entries.count, 5)
        XCTAssertEqual(entries[1].relativePathString, rootName + "/zdir")
        XCTAssertEqual(Set(entries.dropFirst(2).map(\.relativePathString)),
                       Set(["a", "m", "z"].map { rootName + "/" + $0 }))
    }

    /// A directory bind-mounted inside itself: entered once, the second meeting recorded as a loop.
    func testBindMountLoopIsNotEnteredTwice() throws {
        try FileSystem.createDirectory(directory + "/inside")
        try write("file", [1])
        let mounted = try TestSupport.run("/bin/mount", ["--bind", directory, directory + "/inside"])
        if mounted.status != 0 { throw XCTSkip("cannot bind-mount here (\(mounted.err)); loop check untested") }
        defer { _ = try? TestSupport.run("/bin/umount", [directory + "/inside"]) }
        let entries = walk()
        XCTAssertEqual(relative(entries).map { String($0.dropFirst(rootName.count)) }, ["", "/file", "/inside"])
        XCTAssertEqual(entries[2].kind, .directory)
        XCTAssertEqual(entries[2].error?.hasPrefix("directory loop: the same directory as \(rootName)"), true)
    }
}
