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

    /// The open descriptor (standard input for `-`).
    public let descriptor: FileDescriptor
    /// What the source is; a device's geometry and identity when opened `describingDevice`.
    public let description: SourceDescription
    /// The size when opened: a file's from fstat, a device's from seeking to its end; nil for a stream.
    public let size: UInt64?

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
                                  size: nil)
        }
        let descriptor = try FileDescriptor.open(path, O_RDONLY)
        do {
            let description = try SourceDescription.describe(descriptor, sysfsRoot: sysfsRoot,
                                                              deviceFacts: describingDevice)
            let size = try currentSize(of: descriptor, kind: description.kind)
            return EvidenceSource(descriptor: descriptor, description: description, size: size)
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
