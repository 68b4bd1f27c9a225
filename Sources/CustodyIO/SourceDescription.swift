import CustodyBase
#if canImport(Glibc)
import Glibc
#endif

/// What an acquisition read from: recorded in the item metadata of a sealed bundle (SPEC.md section 7).
public struct SourceDescription: Sendable, Equatable {
    /// What kind of thing the source is.
    public enum Kind: String, Sendable, CaseIterable {
        /// A regular file (an image).
        case file
        /// A block device (a disk or partition).
        case blockDevice
        /// Anything read once from start to end: standard input, a FIFO, a character device.
        case stream
    }

    /// The path as given (`-` for standard input).
    public var path: String
    /// What kind of thing it is.
    public var kind: Kind
    /// Size in bytes when known before reading (files, devices).
    public var size: UInt64?
    /// The device's logical sector size (block devices).
    public var logicalSectorSize: Int?
    /// The device's physical sector size (block devices).
    public var physicalSectorSize: Int?
    /// The device's model, as sysfs reports it.
    public var model: String?
    /// The device's serial number, as sysfs reports it.
    public var serial: String?
    /// The device's vendor, as sysfs reports it.
    public var vendor: String?
    /// Spinning disk (true) or solid state (false), as the kernel believes.
    public var rotational: Bool?
    /// The kernel's name of the device (`sda1`).
    public var deviceName: String?
    /// The whole disk when the device is a partition (`sda`).
    public var parentDevice: String?
    /// A loop device's backing file.
    public var backingFile: String?

    /// A description of `path` of `kind`, with its size when known and no device facts.
    public init(path: String, kind: Kind, size: UInt64? = nil) {
        self.path = path
        self.kind = kind
        self.size = size
    }

    /// Describes what `descriptor` (opened on `path`) is: its kind from fstat and, with `deviceFacts`, a device's
    /// geometry from ioctl and its identity from sysfs under `sysfsRoot`. Throws `IOError.isDirectory` for a
    /// directory.
    public static func describe(_ descriptor: FileDescriptor, sysfsRoot: String = "/sys",
                                deviceFacts: Bool = true) throws -> SourceDescription {
        let info = try descriptor.status()
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return SourceDescription(path: descriptor.path, kind: .file, size: UInt64(info.st_size))
        case S_IFBLK where !deviceFacts:
            return SourceDescription(path: descriptor.path, kind: .blockDevice)
        case S_IFBLK:
            let geometry = try BlockDeviceGeometry.query(descriptor)
            var description = SourceDescription(path: descriptor.path, kind: .blockDevice, size: geometry.size)
            description.logicalSectorSize = geometry.logicalSectorSize
            description.physicalSectorSize = geometry.physicalSectorSize
            let device = UInt64(info.st_rdev)
            if let sysfs = SysfsBlockInfo.lookup(major: deviceMajor(device), minor: deviceMinor(device),
                                                 sysfsRoot: sysfsRoot) {
                description.apply(sysfs)
            }
            return description
        case S_IFDIR:
            throw IOError.isDirectory(path: descriptor.path)
        default:
            return SourceDescription(path: descriptor.path, kind: .stream)
        }
    }

    /// Copies the identification sysfs gave (the ioctl geometry, when present, wins).
    public mutating func apply(_ sysfs: SysfsBlockInfo) {
        model = sysfs.model
        serial = sysfs.serial
        vendor = sysfs.vendor
        rotational = sysfs.rotational
        deviceName = sysfs.name
        parentDevice = sysfs.parentName
        backingFile = sysfs.backingFile
        if logicalSectorSize == nil { logicalSectorSize = sysfs.logicalSectorSize }
        if physicalSectorSize == nil { physicalSectorSize = sysfs.physicalSectorSize }
        if size == nil { size = sysfs.size }
    }

    /// The JSON object carried in item metadata; absent facts are left out rather than written as null.
    public var json: JSONValue {
        var members: [String: JSONValue] = ["path": .string(path), "kind": .string(kind.rawValue)]
        if let size { members["size"] = .int(Int64(clamping: size)) }
        if let logicalSectorSize { members["logicalSectorSize"] = .int(Int64(logicalSectorSize)) }
        if let physicalSectorSize { members["physicalSectorSize"] = .int(Int64(physicalSectorSize)) }
        if let model { members["model"] = .string(model) }
        if let serial { members["serial"] = .string(serial) }
        if let vendor { members["vendor"] = .string(vendor) }
        if let rotational { members["rotational"] = .bool(rotational) }
        if let deviceName { members["deviceName"] = .string(deviceName) }
        if let parentDevice { members["parentDevice"] = .string(parentDevice) }
        if let backingFile { members["backingFile"] = .string(backingFile) }
        return .object(members)
    }

    /// Reads the JSON form back; throws naming the first missing or mistyped member.
    public init(json: JSONValue) throws {
        guard case .object(let members) = json else {
            throw IOError.malformedSourceDescription(problem: "not a JSON object")
        }
        func string(_ key: String) throws -> String? {
            guard let value = members[key] else { return nil }
            guard case .string(let text) = value else {
                throw IOError.malformedSourceDescription(problem: "'\(key)' is not a string")
            }
            return text
        }
        func integer(_ key: String) throws -> Int64? {
            guard let value = members[key] else { return nil }
            guard case .int(let number) = value, number >= 0 else {
                throw IOError.malformedSourceDescription(problem: "'\(key)' is not a non-negative integer")
            }
            return number
        }
        guard let path = try string("path") else { throw IOError.malformedSourceDescription(problem: "no 'path'") }
        guard let kindName = try string("kind"), let kind = Kind(rawValue: kindName) else {
            let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw IOError.malformedSourceDescription(problem: "'kind' must be one of \(known)")
        }
        self.init(path: path, kind: kind, size: try integer("size").map { UInt64($0) })
        logicalSectorSize = try integer("logicalSectorSize").map { Int($0) }
        physicalSectorSize = try integer("physicalSectorSize").map { Int($0) }
        model = try string("model")
        serial = try string("serial")
        vendor = try string("vendor")
        deviceName = try string("deviceName")
        parentDevice = try string("parentDevice")
        backingFile = try string("backingFile")
        if let value = members["rotational"] {
            guard case .bool(let flag) = value else {
                throw IOError.malformedSourceDescription(problem: "'rotational' is not a boolean")
            }
            rotational = flag
        }
    }
}

/// The major number of a device number (glibc's encoding, as `major(3)`).
func deviceMajor(_ device: UInt64) -> UInt32 {
    UInt32(truncatingIfNeeded: ((device >> 32) & 0xffff_f000) | ((device >> 8) & 0x0000_0fff))
}

/// The minor number of a device number (glibc's encoding, as `minor(3)`).
func deviceMinor(_ device: UInt64) -> UInt32 {
    UInt32(truncatingIfNeeded: ((device >> 12) & 0xffff_ff00) | (device & 0x0000_00ff))
}
