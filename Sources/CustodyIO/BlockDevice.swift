import CustodyBase
internal import CCustodySystem

#if canImport(Glibc)
import Glibc
#endif

/// What the kernel reports about a block device through ioctl.
public struct BlockDeviceGeometry: Sendable, Equatable {
    /// Size in bytes (BLKGETSIZE64).
    public var size: UInt64
    /// The smallest unit the device addresses (BLKSSZGET), usually 512 or 4096.
    public var logicalSectorSize: Int
    /// The unit the device reads and writes internally (BLKPBSZGET).
    public var physicalSectorSize: Int

    /// Geometry of the given sizes.
    public init(size: UInt64, logicalSectorSize: Int, physicalSectorSize: Int) {
        self.size = size
        self.logicalSectorSize = logicalSectorSize
        self.physicalSectorSize = physicalSectorSize
    }

    /// Asks the kernel about the device open as `descriptor`. Throws an operational error naming the path
    /// when it is not a block device (a regular file answers ENOTTY) or the request fails.
    public static func query(_ descriptor: FileDescriptor) throws -> BlockDeviceGeometry {
        var size: UInt64 = 0
        var logical: UInt32 = 0
        var physical: UInt32 = 0
        try check(custody_block_size_bytes(descriptor.rawValue, &size), "BLKGETSIZE64", descriptor.path)
        try check(custody_block_logical_sector_size(descriptor.rawValue, &logical), "BLKSSZGET", descriptor.path)
        // Old kernels lack BLKPBSZGET; the logical size is then the best answer.
        if custody_block_physical_sector_size(descriptor.rawValue, &physical) != 0 || physical == 0 {
            physical = logical
        }
        guard logical > 0, logical & (logical - 1) == 0 else {
            throw IOError.oddSectorSize(path: descriptor.path, logicalSectorSize: logical)
        }
        return BlockDeviceGeometry(size: size, logicalSectorSize: Int(logical), physicalSectorSize: Int(physical))
    }

    private static func check(_ code: Int32, _ request: String, _ path: String) throws {
        guard code != 0 else { return }
        throw IOError.deviceRequestFailed(path: path, request: request, code: code,
                                          notBlockDevice: code == ENOTTY || code == EINVAL)
    }
}

/// What sysfs tells about a block device: identification, geometry and, for loop devices, the backing file.
///
/// The sysfs root is a parameter so the lookup can be tested against a fake tree. Partitions are resolved
/// to their parent disk for the disk's identity (model, serial, vendor, rotational, loop backing file),
/// while size and read-only state are the partition's own.
public struct SysfsBlockInfo: Sendable, Equatable {
    /// The kernel's name of the device (`sda1`, `nvme0n1p2`, `loop0`).
    public var name: String
    /// The whole disk's name when the device is a partition (`sda` for `sda1`).
    public var parentName: String?
    /// The partition's number, for a partition.
    public var partitionNumber: Int?
    /// Size in bytes (sysfs `size` counts 512-byte units whatever the sector size).
    public var size: UInt64?
    /// The device's model (`device/model`), blanks trimmed.
    public var model: String?
    /// The device's serial number (`device/serial`, `serial` or VPD page 0x80).
    public var serial: String?
    /// The device's vendor (`device/vendor`), blanks trimmed.
    public var vendor: String?
    /// Spinning disk (true) or solid state (false).
    public var rotational: Bool?
    /// Whether the medium is removable.
    public var removable: Bool?
    /// Whether the kernel holds the device read-only.
    public var readOnly: Bool?
    /// The logical sector size (`queue/logical_block_size`).
    public var logicalSectorSize: Int?
    /// The physical sector size (`queue/physical_block_size`).
    public var physicalSectorSize: Int?
    /// The file a loop device reads from.
    public var backingFile: String?

    /// The facts of the device `name`, none known yet.
    public init(name: String) { self.name = name }

    /// Looks up the device numbered `major:minor` under `sysfsRoot` (normally `/sys`); nil when sysfs has
    /// no such device (or is not mounted).
    public static func lookup(major: UInt32, minor: UInt32, sysfsRoot: String = "/sys") -> SysfsBlockInfo? {
        lookup(entry: "\(sysfsRoot)/dev/block/\(major):\(minor)")
    }

    /// Looks up a device by kernel name (`sda1`) under `sysfsRoot`.
    public static func lookup(name: String, sysfsRoot: String = "/sys") -> SysfsBlockInfo? {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else { return nil }
        return lookup(entry: "\(sysfsRoot)/class/block/\(name)")
    }

    private static func lookup(entry: String) -> SysfsBlockInfo? {
        guard let directory = resolvedPath(entry), FileSystem.exists(directory + "/dev") else { return nil }
        var info = SysfsBlockInfo(name: lastComponent(directory))
        var disk = directory
        if let number = readText(directory + "/partition").flatMap({ Int($0) }) {
            info.partitionNumber = number
            disk = FileSystem.parentDirectory(of: directory)
            info.parentName = lastComponent(disk)
        }
        info.size = readText(directory + "/size").flatMap { UInt64($0) }.flatMap { sectors in
            let (bytes, overflow) = sectors.multipliedReportingOverflow(by: 512)
            return overflow ? nil : bytes
        }
        info.readOnly = readFlag(directory + "/ro")
        info.model = readText(disk + "/device/model")
        info.vendor = readText(disk + "/device/vendor")
        info.serial = readText(disk + "/device/serial") ?? readText(disk + "/serial")
            ?? readVPDSerial(disk + "/device/vpd_pg80")
        info.rotational = readFlag(disk + "/queue/rotational")
        info.removable = readFlag(disk + "/removable")
        info.logicalSectorSize = readText(disk + "/queue/logical_block_size").flatMap { Int($0) }
        info.physicalSectorSize = readText(disk + "/queue/physical_block_size").flatMap { Int($0) }
        info.backingFile = readText(disk + "/loop/backing_file")
        return info
    }

    /// A sysfs attribute's text with surrounding whitespace and NULs removed; nil when absent or empty.
    static func readText(_ path: String) -> String? {
        guard let bytes = try? FileSystem.readFile(path, limit: 64 << 10) else { return nil }
        return cleaned(bytes)
    }

    static func cleaned(_ bytes: [UInt8]) -> String? {
        let printable = bytes.split(separator: 0, omittingEmptySubsequences: true).first ?? []
        let text = String(decoding: printable, as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    private static func readFlag(_ path: String) -> Bool? {
        switch readText(path) {
        case "0": return false
        case "1": return true
        default: return nil
        }
    }

    /// The unit serial number from a SCSI VPD page 0x80: header of 4 bytes (page code, reserved, length).
    static func readVPDSerial(_ path: String) -> String? {
        guard let bytes = try? FileSystem.readFile(path, limit: 64 << 10) else { return nil }
        return parseVPDSerial(bytes)
    }

    /// Parses a VPD page 0x80 (unit serial number); nil when the page is malformed or empty.
    static func parseVPDSerial(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 4, bytes[1] == 0x80 else { return nil }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard length > 0, bytes.count >= 4 + length else { return nil }
        return cleaned(Array(bytes[4..<(4 + length)]))
    }

    private static func resolvedPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
