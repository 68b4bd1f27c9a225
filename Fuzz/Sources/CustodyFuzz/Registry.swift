/// Every fuzz target, in the order `fuzz.sh list` prints them. Adding a target: one file in `Targets/` with a
/// `static let` on `FuzzTarget`, its line here, and seeds in `Corpus/NAME/`.
enum FuzzTargets {
    static let all: [FuzzTarget] = [
        .gzipMemberHeader,
        .unpackStrict,
        .unpackSalvage,
        .bagitDeclaration,
        .bagInfo,
        .bagitManifest,
        .bagitTagManifest,
        .itemsJSON,
        .itemRecords,
        .conditionsJSON,
        .canonicalJSON,
        .ledgerEntry,
        .ledgerBatchLine,
        .signedNote,
        .checkpoint,
        .ageHeader,
        .ageFile,
        .bech32,
        .ageKeyFiles,
        .tarExtract,
        .hashList,
        .transferStatement,
        .receipt,
        .consent,
        .preservationOrders,
        .identity,
        .merkleProofs,
    ]

    /// The target this process fuzzes, set once in `main` before libFuzzer starts.
    nonisolated(unsafe) static var selected: FuzzTarget?
}
