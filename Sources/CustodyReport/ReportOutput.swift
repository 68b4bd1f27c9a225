import CustodyBase
import CustodyIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a report or export cannot be written.
public enum ReportError: CustodyFailure, Equatable {
    /// The output path `output` lies inside `bundle`, the bundle it describes.
    case outputInsideBundle(output: String, bundle: String)

    /// Always operational: nothing was written.
    public var kind: FailureKind { .operational }

    /// The one-line message.
    public var description: String {
        switch self {
        case .outputInsideBundle(let output, let bundle):
            return "\(output): inside the bundle \(bundle); write the output elsewhere (nothing is ever written into "
                + "a bundle)"
        }
    }
}

/// Where reports and exports may be written.
public enum ReportOutput {
    /// Throws `ReportError.outputInsideBundle` when `output` lies inside `bundle`: reports and exports never write
    /// into the bundle they describe (the paths are compared after resolving links in both).
    public static func requireOutside(_ bundle: String, output: String) throws {
        let name = output.split(separator: "/").last.map(String.init) ?? output
        guard let root = resolved(bundle), let parent = resolved(FileSystem.parentDirectory(of: output)) else {
            return
        }
        let target = name == "." || name == ".." ? (resolved(output) ?? parent) : parent + "/" + name
        if target == root || target.hasPrefix(root + "/") {
            throw ReportError.outputInsideBundle(output: output, bundle: bundle)
        }
    }

    /// `path` with every link resolved, or nil when it does not exist.
    private static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
