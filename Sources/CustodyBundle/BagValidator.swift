import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

/// Checks a directory against BagIt 1.0 (RFC 8493) as custody writes bags: declaration, bag-info and
/// Payload-Oxum, no links or special files, every manifest path safe, payload complete in every manifest,
/// tag manifests covering every tag file. Payload digests are checked separately (they need a full read).
public struct BagValidator: Sendable {
    /// The bag directory.
    public let root: String
    /// Largest tag file or manifest read into memory.
    public static let tagFileLimit = 256 << 20

    /// A validator of the bag at `root`.
    public init(root: String) { self.root = root }

    /// What the structural checks learned, for the content checks that follow.
    public struct Structure: Sendable {
        /// Payload files with their expected digests, per algorithm.
        public var payload: [String: [DigestAlgorithm: [UInt8]]] = [:]
        /// Payload file sizes on disk.
        public var payloadSizes: [String: UInt64] = [:]
        /// Labels of bag-info.txt.
        public var bagInfo: [(label: String, value: String)] = []
        /// Every regular file in the bag.
        public var files: [String: UInt64] = [:]

        /// The first bag-info value for `label` (compared without case), if any.
        public func bagInfoValue(_ label: String) -> String? {
            bagInfo.first { $0.label.lowercased() == label.lowercased() }?.value
        }
    }

    /// Runs the structural checks into `report`; returns what it learned, or nil when the bag cannot be read
    /// at all (not a directory, no declaration).
    public func checkStructure(into report: inout VerificationReport) -> Structure? {
        var structure = Structure()
        let listing: BagTree.Listing
        do {
            listing = try BagTree.list(root)
        } catch {
            report.fail("bagit.readable", "\(error)")
            return nil
        }
        structure.files = listing.files
        if listing.unexpected.isEmpty {
            report.pass("bagit.no-links", "no symbolic links or special files")
        } else {
            for item in listing.unexpected {
                report.fail("bagit.no-links", "\(BagIt.printable(item.path)): \(item.kind) inside the bag")
            }
        }
        guard let declaration = read(BundleLayout.declaration, into: &report) else { return nil }
        if String(decoding: declaration, as: UTF8.self) == BagIt.declaration {
            report.pass("bagit.declaration", "bagit.txt declares BagIt 1.0, UTF-8")
        } else {
            report.fail("bagit.declaration", "bagit.txt is not 'BagIt-Version: 1.0' / "
                + "'Tag-File-Character-Encoding: UTF-8'")
        }
        if let info = read(BundleLayout.bagInfo, into: &report) {
            do {
                structure.bagInfo = try BagIt.parseBagInfo(info, name: BundleLayout.bagInfo)
            } catch {
                report.fail("bagit.bag-info", "\(error)")
            }
        }
        let payloadFiles = listing.files.filter { $0.key.hasPrefix(BundleLayout.payloadDirectory + "/") }
        structure.payloadSizes = payloadFiles
        checkOxum(structure: structure, payloadFiles: payloadFiles, into: &report)
        for algorithm in BundleLayout.payloadManifests {
            checkManifest(algorithm, payloadFiles: payloadFiles, structure: &structure, into: &report)
        }
        for algorithm in BundleLayout.tagManifests {
            checkTagManifest(algorithm, files: listing.files, into: &report)
        }
        return structure
    }

    private func read(_ name: String, into report: inout VerificationReport) -> [UInt8]? {
        do {
            return try BagTree.readRegular(root + "/" + name, limit: BagValidator.tagFileLimit)
        } catch {
            report.fail("bagit.\(name)", "\(name) cannot be read: \(error)")
            return nil
        }
    }

    private func checkOxum(structure: Structure, payloadFiles: [String: UInt64],
                           into report: inout VerificationReport) {
        guard let oxum = structure.bagInfoValue("Payload-Oxum") else {
            report.fail("bagit.payload-oxum", "bag-info.txt has no Payload-Oxum")
            return
        }
        let octets = payloadFiles.values.reduce(0, +)
        let expected = "\(octets).\(payloadFiles.count)"
        if oxum.trimmingWhitespace() == expected {
            report.pass("bagit.payload-oxum", "Payload-Oxum \(oxum) matches the payload")
        } else {
            report.fail("bagit.payload-oxum", "Payload-Oxum says \(oxum), the payload has \(expected) (octets.files)")
        }
    }

    /// Reads and parses a manifest or tag manifest; a missing or malformed one is reported and gives nil.
    private func readManifest(_ name: String, algorithm: DigestAlgorithm, into report: inout VerificationReport)
        -> [(path: String, digest: [UInt8])]? {
        guard let bytes = read(name, into: &report) else { return nil }
        do {
            return try BagIt.parseManifest(bytes, name: name, algorithm: algorithm)
        } catch {
            report.fail("bagit.\(name)", "\(error)")
            return nil
        }
    }

    private func checkManifest(_ algorithm: DigestAlgorithm, payloadFiles: [String: UInt64], structure: inout Structure,
                               into report: inout VerificationReport) {
        let name = BundleLayout.manifestName(algorithm)
        guard let entries = readManifest(name, algorithm: algorithm, into: &report) else { return }
        let passed = checkListing(
            entries, name: name, present: payloadFiles, covered: payloadFiles.keys.sorted(),
            refusal: { path in
                path.hasPrefix(BundleLayout.payloadDirectory + "/") ? nil
                    : "\(name) lists '\(BagIt.printable(path))' outside data/"
            },
            unlisted: { "\(BagIt.printable($0)) is in data/ but not listed in \(name)" },
            into: &report
        ) { path, digest, _ in
            structure.payload[path, default: [:]][algorithm] = digest
            return true
        }
        if passed { report.pass("bagit.\(name)", "\(name) lists all \(payloadFiles.count) payload files") }
    }

    private func checkTagManifest(_ algorithm: DigestAlgorithm, files: [String: UInt64],
                                  into report: inout VerificationReport) {
        let name = BundleLayout.tagManifestName(algorithm)
        guard let entries = readManifest(name, algorithm: algorithm, into: &report) else { return }
        func isTagFile(_ path: String) -> Bool {
            !path.hasPrefix(BundleLayout.payloadDirectory + "/") && !path.hasPrefix("tagmanifest-")
        }
        let tagFiles = files.keys.filter(isTagFile)
        let passed = checkListing(
            entries, name: name, present: files, covered: tagFiles.sorted(),
            refusal: { isTagFile($0) ? nil : "\(name) lists '\(BagIt.printable($0))', which is not a tag file" },
            unlisted: { "\(BagIt.printable($0)) is not covered by \(name) (an extra file?)" },
            into: &report
        ) { path, digest, report in
            do {
                let content = try BagTree.readRegular(root + "/" + path, limit: BagValidator.tagFileLimit)
                if !constantTimeEqual(Digester.digest(algorithm, content), digest) {
                    report.fail("bagit.\(name)", "\(path): \(algorithm.rawValue) differs from \(name) "
                        + "(the file was changed)")
                    return false
                }
                return true
            } catch {
                report.fail("bagit.\(name)", "\(path) cannot be read: \(error)")
                return false
            }
        }
        if passed { report.pass("bagit.\(name)", "\(name) covers all \(tagFiles.count) tag files, digests match") }
    }

    /// Goes through a manifest's entries in order, failing `bagit.NAME` for each one `refusal` gives a reason for
    /// and each one not among the `present` files, and handing the others to `check` (which reports its own
    /// failures and says whether the entry passed); then fails each of the `covered` files the manifest does not
    /// list, worded by `unlisted`. Returns whether everything passed.
    private func checkListing(_ entries: [(path: String, digest: [UInt8])], name: String, present: [String: UInt64],
                              covered: [String], refusal: (String) -> String?, unlisted: (String) -> String,
                              into report: inout VerificationReport,
                              check: (String, [UInt8], inout VerificationReport) -> Bool) -> Bool {
        var passed = true
        var listed = Set<String>()
        for entry in entries {
            listed.insert(entry.path)
            if let reason = refusal(entry.path) {
                report.fail("bagit.\(name)", reason)
                passed = false
            } else if present[entry.path] == nil {
                report.fail("bagit.\(name)", "\(BagIt.printable(entry.path)) is listed in \(name) but missing")
                passed = false
            } else if !check(entry.path, entry.digest, &report) {
                passed = false
            }
        }
        for path in covered where !listed.contains(path) {
            report.fail("bagit.\(name)", unlisted(path))
            passed = false
        }
        return passed
    }
}
