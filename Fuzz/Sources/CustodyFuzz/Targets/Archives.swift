import CustodyKit
import Glibc

extension FuzzTarget {
    /// The bounded, path-safe tar extractor, into a fresh folder each run (removed after), fed in two pieces.
    static let tarExtract = FuzzTarget(
        name: "tar-extract", summary: "TarExtractor: ustar/pax archives into a scratch folder"
    ) { bytes in
        let destination = TarScratch.folder + "/x"
        FileSystem.removeTree(destination)
        defer { FileSystem.removeTree(destination) }
        let limits = TarLimits(maximumEntries: 64, maximumFileSize: 1 << 20, maximumTotalSize: 4 << 20)
        guard let extractor = try? TarExtractor(destination: destination, limits: limits, durable: false) else {
            fuzzFailure("the scratch folder \(destination) cannot be used")
        }
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) * 7 % bytes.count
        do {
            try extractor.write(Array(bytes[..<cut]))
            try extractor.write(Array(bytes[cut...]))
            let summary = try extractor.finish()
            if summary.files > 64 { fuzzFailure("\(summary.files) files extracted past a limit of 64 entries") }
        } catch {
            // A refused archive must leave nothing behind inside the destination.
            if let left = try? FileSystem.directoryEntries(destination), !left.isEmpty {
                fuzzFailure("a refused archive left \(left.count) entries in the destination")
            }
        }
        let outside = (try? FileSystem.directoryEntries(TarScratch.folder)) ?? []
        if outside.contains(where: { $0 != "x" }) {
            fuzzFailure("the archive wrote outside its destination: \(outside)")
        }
    }

    /// hashdeep and `*sum` lists as `custody audit` reads them.
    static let hashList = FuzzTarget(
        name: "hash-list", summary: "KnownHashList.parse: hashdeep and sha256sum/md5sum/--tag audit lists"
    ) { bytes in
        _ = try? KnownHashList.parse(bytes, source: "fuzz")
    }
}

/// The per-process scratch folder the tar target extracts under (in /dev/shm when it exists).
enum TarScratch {
    static let folder: String = {
        let base = FileSystem.exists("/dev/shm") ? "/dev/shm" : "/tmp"
        let path = "\(base)/custody-fuzz-tar-\(getpid())"
        FileSystem.removeTree(path)
        guard mkdir(path, 0o700) == 0 else { fuzzFailure("cannot make \(path)") }
        return path
    }()
}
