import CustodyBase
#if canImport(Glibc)
import Glibc
#endif

/// An evidence source opened read-only for acquisition, with its description: the one way custody opens a
/// file, block device or standard input to hash, pack, seal or measure it.
///
/// Sources are only ever opened `O_RDONLY`: nothing in acquisition can write to evidence.
public struct EvidenceSource: Sendable {
    /// How a regular file's size moved while it was read.
    public struct SizeChange: Sendable, Equatable {
        /// The size when the source was opened.
        public var atStart: UInt64
        /// The size after the read.
        public var atEnd: UInt64
        /// The bytes the read delivered.
        public var read: UInt64
    }

    /// A file time (modification or status change) to the nanosecond.
    public struct FileTime: Sendable, Equatable, CustomStringConvertible {
        /// Seconds since the epoch.
        public var seconds: Int64
        /// Nanoseconds past `seconds`.
        public var nanoseconds: Int64

        init(_ time: timespec) {
            seconds = Int64(time.tv_sec)
            nanoseconds = Int64(time.tv_nsec)
        }

        /// `SECONDS.NANOSECONDS`, nine digits after the point.
        public var description: String {
            let digits = String(nanoseconds)
            return "\(seconds).\(String(repeating: "0", count: max(0, 9 - digits.count)))\(digits)"
        }
    }

    /// What can be checked of a source around a read: its size and, for a regular file, its modification and
    /// status-change times (`st_mtim`, `st_ctim`). Any write to a file moves its status-change time, even one that
    /// sets the modification time back. A block device's node says nothing of writes to the device, so only its
    /// size is checked; a stream has nothing to check.
    public struct Stamp: Sendable, Equatable {
        /// The size (nil for a stream).
        public var size: UInt64?
        /// A regular file's modification time.
        public var modified: FileTime?
        /// A regular file's status-change time.
        public var changed: FileTime?
    }

    /// How a source changed while it was read: its stamps before and after, and the bytes the read delivered.
    public struct ReadChange: Sendable, Equatable {
        /// The stamp when the source was opened.
        public var before: Stamp
        /// The stamp after the read.
        public var after: Stamp
        /// The bytes the read delivered.
        public var read: UInt64

        /// Whether the size moved (or the read delivered another size than the file had): growth or truncation.
        public var sizeChange: SizeChange? {
            guard let start = before.size else { return nil }
            let end = after.size ?? start
            guard end != start || (before.changed != nil && read != start) else { return nil }
            return SizeChange(atStart: start, atEnd: end, read: read)
        }

        /// What moved, in words: `status-change time A -> B, modification time C -> D, size N bytes unchanged`.
        public var summary: String {
            var parts: [String] = []
            if let from = before.changed, let to = after.changed, from != to {
                parts.append("status-change time \(from) -> \(to)")
            }
            if let from = before.modified, let to = after.modified, from != to {
                parts.append("modification time \(from) -> \(to)")
            }
            if let from = before.size, let to = after.size {
                parts.append(from == to ? "size \(from) bytes unchanged" : "size \(from) -> \(to) bytes")
            }
            return parts.joined(separator: ", ")
        }
    }

    /// The open descriptor (standard input for `-`).
    public let descriptor: FileDescriptor
    /// What the source is; a device's geometry and identity when opened `describingDevice`.
    public let description: SourceDescription
    /// The size when opened: a file's from fstat, a device's from seeking to its end; nil for a stream.
    public let size: UInt64?
    /// The stamp when opened (see `Stamp`).
    public let openedStamp: Stamp

    /// The path as given (`-` for standard input).
    public var path: String { description.path }
    /// What kind of thing the source is.
    public var kind: SourceDescription.Kind { description.kind }

    /// Opens `path` read-only (`-` is standard input) and describes it; with `describingDevice` a block device's
    /// geometry (ioctl) and identity (sysfs under `sysfsRoot`) are read too. Throws `IOError.isDirectory` for a
    /// directory.
    public static func open(_ path: String, describingDevice: Bool = true,
                            sysfsRoot: String = "/sys") throws -> EvidenceSource {
        if path == "-" {
            return EvidenceSource(descriptor: .standardInput, description: SourceDescription(path: "-", kind: .stream),
                                  size: nil, openedStamp: Stamp())
        }
        let descriptor = try FileDescriptor.open(path, O_RDONLY)
        do {
            let description = try SourceDescription.describe(descriptor, sysfsRoot: sysfsRoot,
                                                              deviceFacts: describingDevice)
            let stamp = try stamp(of: descriptor, kind: description.kind)
            return EvidenceSource(descriptor: descriptor, description: description, size: stamp.size,
                                  openedStamp: stamp)
        } catch {
            descriptor.close()
            throw error
        }
    }

    /// The size now (see `size`).
    public func currentSize() throws -> UInt64? {
        try EvidenceSource.currentSize(of: descriptor, kind: kind)
    }

    /// The size of a regular file (from fstat) or block device (from seeking to its end, then back to the start);
    /// nil for streams.
    public static func currentSize(of descriptor: FileDescriptor, kind: SourceDescription.Kind) throws -> UInt64? {
        switch kind {
        case .file:
            return UInt64(try descriptor.status().st_size)
        case .blockDevice:
            let end = try descriptor.seek(to: 0, whence: SEEK_END)
            try descriptor.seek(to: 0)
            return end
        case .stream:
            return nil
        }
    }

    /// The stamp of a source now: one fstat for a regular file, the size (seeking to the end and back) for a
    /// block device, nothing for a stream.
    public static func stamp(of descriptor: FileDescriptor, kind: SourceDescription.Kind) throws -> Stamp {
        switch kind {
        case .file:
            let info = try descriptor.status()
            return Stamp(size: UInt64(info.st_size), modified: FileTime(info.st_mtim), changed: FileTime(info.st_ctim))
        case .blockDevice:
            return Stamp(size: try currentSize(of: descriptor, kind: kind))
        case .stream:
            return Stamp()
        }
    }

    /// How the source changed while `read` bytes were read from it, from its stamp when opened and now; nil when
    /// it held still. A regular file that was written to (its status-change or modification time moved), grew or
    /// shrank, or delivered another size than it had, changed; a block device, when its size moved.
    public func changeDuringRead(read: UInt64) throws -> ReadChange? {
        guard kind != .stream else { return nil }
        let now = try EvidenceSource.stamp(of: descriptor, kind: kind)
        let change = ReadChange(before: openedStamp, after: now, read: read)
        guard now != openedStamp || change.sizeChange != nil else { return nil }
        return change
    }

    /// How a regular file changed size while `read` bytes were read from it; nil when it held still (and always
    /// for devices and streams).
    public func sizeChange(read: UInt64) throws -> SizeChange? {
        guard kind == .file, let size else { return nil }
        let after = try currentSize() ?? size
        guard after != size || read != size else { return nil }
        return SizeChange(atStart: size, atEnd: after, read: read)
    }

    /// A reader with no error handling: a read error ends the run. Regular files are mapped when
    /// `mapsRegularFiles`.
    public func plainReader(mapsRegularFiles: Bool = FileChunkReader.mapsRegularFilesByDefault) -> FileChunkReader {
        FileChunkReader(descriptor: descriptor, size: size, mapsRegularFiles: mapsRegularFiles)
    }

    /// A reader that retries, narrows to sectors and zero-fills what stays unreadable, recording it in `log`; it
    /// reads through `base` (by default the plain reader). The sector size is the policy's, else the device's
    /// logical sector size, else 512.
    public func resilientReader(over base: ChunkReader? = nil, policy: ReadPolicy = ReadPolicy(), log: BadSectorLog,
                                shouldStop: (@Sendable () -> Bool)? = nil) -> ResilientReader {
        var effective = policy
        if effective.sectorSize == nil { effective.sectorSize = description.logicalSectorSize ?? 512 }
        return ResilientReader(base ?? plainReader(), policy: effective, log: log, shouldStop: shouldStop)
    }

    /// Closes the descriptor (standard input is left open).
    public func close() {
        if description.path != "-" { descriptor.close() }
    }
}
