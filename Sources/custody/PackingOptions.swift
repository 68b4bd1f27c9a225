import ArgumentParser
import CustodyKit

extension OutputTarget {
    /// Opens `path` for writing as `OutputTarget` does, naming `--force` when the output exists.
    static func create(path: String, overwrite: Bool, input: FileDescriptor?) throws -> OutputTarget {
        do {
            return try OutputTarget(path: path, overwrite: overwrite, input: input)
        } catch let error as EngineError {
            guard case .outputExists = error else { throw error }
            throw CustodyError.operational("\(error) or use --force")
        }
    }
}
