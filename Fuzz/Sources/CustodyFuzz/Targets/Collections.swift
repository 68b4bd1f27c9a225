import CustodyKit

extension FuzzTarget {
    /// `custody/items.jsonl` of a collection bundle: each line through `CollectionRecord(line:where:)`; a record
    /// that parses must write back to the same bytes, and its payload name (from its path) must be a safe bag path
    /// whose components are never `.`, `..`, empty or hold a `/`, NUL or `%`.
    static let itemRecords = FuzzTarget(name: "item-records",
                                        summary: "CollectionRecord(line:where:) and PayloadNames: custody/items.jsonl") {
        bytes in
        for (index, line) in bytes.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            let line = Array(line)
            if let record = try? CollectionRecord(line: line, where: "items.jsonl:\(index + 1)") {
                if record.line != line { fuzzFailure("a record that parsed writes back to other bytes") }
            }
            guard line.contains(where: { $0 != UInt8(ascii: "/") }) else { continue }
            let payload = PayloadNames.payloadPath(line, isDirectory: index % 2 == 0, suffix: ".gz")
            let components = payload.split(separator: "/", omittingEmptySubsequences: false)
            if components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("%") })
                || payload.utf8.contains(0) {
                fuzzFailure("a payload name with an empty, '.', '..' or '%' component, or a NUL")
            }
            if (try? BagIt.safeComponents(payload)) == nil {
                fuzzFailure("a payload name that is not a safe bag path")
            }
        }
    }
}
