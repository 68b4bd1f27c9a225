import CustodyBase
#if canImport(Glibc)
import Glibc
#endif

/// What an acquisition read from: recorded in the item metadata of a sealed bundle (SPEC.md section 7).
public struct SourceDescription: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case file
        case blockDevice
        case stream
    }

    /// The path as given (`-` for standard input).
    public var path: String
    public var kind: Kind
    /// Size in bytes when known before reading (files, devices).
    public var size: UInt64?
    /// The device's logical sector size (block devices).
    public var logicalSectorSize: Int?
    /// The device's physical sector size (block devices).
    public var physicalSectorSize: Int?
    public var model: String?
    public var serial: String?
    public var vendor: String?
    /// Spinning disk (true) or solid state (false), as the kernel believes.
    public var rotational: Bool?
    /// The kernel's name of the device (`sda1`).
    public var deviceName: String?
    /// The whole disk when the device is a partition (`sda`).
    public var parentDevice: String?
    /// A loop device's backing file.
    public var backingFile: String?

    public init(path: String, kind: Kind, size: UInt64? = nil) {
        self.path = path
        self.kind = kind
        self.size = size
    }

    /// Describes what `descriptor` (opened on `path`) is: its kind from fstat, a device's geometry from
    /// ioctl and its identity from sysfs under `sysfsRoot`.
    public static func describe(_ descriptor: FileDescriptor, sysfsRoot: String = "/sys") throws -> SourceDescription {
        let info = try descriptor.status()
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return SourceDescription(path: descriptor.path, kind: .file, size: UInt64(info.st_size))
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
            throw CustodyError.operational("\(descriptor.path): is a directory, not a file or device to acquire")
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
            throw CustodyError.operational("source description: not a JSON object")
        }
        func string(_ key: String) throws -> String? {
            guard let value = members[key] else { return nil }
            guard case .string(let text) = value else {
                throw CustodyError.operational("source description: '\(key)' is not a string")
            }
            return text
        }
        func integer(_ key: String) throws -> Int64? {
            guard let value = members[key] else { return nil }
            guard case .int(let number) = value, number >= 0 else {
                throw CustodyError.operational("source description: '\(key)' is not a non-negative integer")
            }
            return number
        }
        guard let path = try string("path") else { throw CustodyError.operational("source description: no 'path'") }
        guard let kindName = try string("kind"), let kind = Kind(rawValue: kindName) else {
            let known = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw CustodyError.operational("source description: 'kind' must be one of \(known)")
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
                throw CustodyError.operational("source description: 'rotational' is not a boolean")
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

/// An evidence source opened read-only for acquisition, with its description.
///
/// Sources are only ever opened `O_RDONLY`: nothing in acquisition can write to evidence.
public struct EvidenceSource: Sendable {
    public let descriptor: FileDescriptor
    public let description: SourceDescription

    /// Opens `path` read-only (`-` is standard input) and describes it. sysfs is read from `sysfsRoot`.
    public static func open(_ path: String, sysfsRoot: String = "/sys") throws -> EvidenceSource {
        if path == "-" {
            return EvidenceSource(descriptor: .standardInput,
                                  description: SourceDescription(path: "-", kind: .stream))
        }
        let descriptor = try FileDescriptor.open(path, O_RDONLY)
        do {
            let description = try SourceDescription.describe(descriptor, sysfsRoot: sysfsRoot)
            return EvidenceSource(descriptor: descriptor, description: description)
        } catch {
            descriptor.close()
            throw error
        }
    }

    /// A reader with no error handling: a read error ends the run.
    public func plainReader() -> FileChunkReader {
        FileChunkReader(descriptor: descriptor, size: description.kind == .stream ? nil : description.size)
    }

    /// A reader that retries, narrows to sectors and zero-fills what stays unreadable, recording it in `log`.
    /// The sector size is the policy's, else the device's logical sector size, else 512.
    public func resilientReader(policy: ReadPolicy = ReadPolicy(), log: BadSectorLog,
                                shouldStop: (@Sendable () -> Bool)? = nil) -> ResilientReader {
        var effective = policy
        if effective.sectorSize == nil { effective.sectorSize = description.logicalSectorSize ?? 512 }
        return ResilientReader(plainReader(), policy: effective, log: log, shouldStop: shouldStop)
    }

    /// Closes the descriptor (standard input is left open).
    public func close() {
        if description.path != "-" { descriptor.close() }
    }
}
