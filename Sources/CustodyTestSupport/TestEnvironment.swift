import CustodyIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the tests run, for the harnesses of both test targets: the package a test file belongs to, its folders,
/// and the peer tools on PATH.
public enum TestEnvironment {
    /// The package root of the test source file `filePath` (a `#filePath`), which stands at
    /// `ROOT/Tests/TARGET/FILE.swift`.
    public static func packageRoot(ofTestFile filePath: String) -> String {
        var components = filePath.split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        return components.joined(separator: "/")
    }

    /// Whether `path` names a directory (following symbolic links).
    public static func isDirectory(_ path: String) -> Bool {
        guard let info = try? FileSystem.status(path, followLinks: true) else { return false }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    /// The full path of a peer tool on PATH (`/usr/bin:/bin` when PATH is unset), or nil.
    public static func which(_ tool: String) -> String? {
        let searchPath = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if access(candidate, X_OK) == 0, !isDirectory(candidate) { return candidate }
        }
        return nil
    }
}
