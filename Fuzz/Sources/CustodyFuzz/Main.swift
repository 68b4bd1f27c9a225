import CFuzzerDriver
import Glibc

/// The fuzz binary's entry point. It owns `main` and hands libFuzzer its flags through `LLVMFuzzerRunDriver`,
/// so libFuzzer's own `main` is never linked (linking both is what failed with ld.gold before: see README.md).
///
/// `custody-fuzz --list` prints the targets; `custody-fuzz --target=NAME [libFuzzer flags] [corpus...]` fuzzes
/// one (libFuzzer ignores flags that start with `--` and passes them on to the processes it forks).
@main
enum FuzzMain {
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.contains("--list") {
            for target in FuzzTargets.all { print("\(target.name)\t\(target.summary)") }
            exit(0)
        }
        let prefix = "--target="
        let named = arguments.last { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
            ?? getenv("CUSTODY_FUZZ_TARGET").map { String(cString: $0) }
        guard let name = named else {
            printError("custody-fuzz: say which target with --target=NAME (custody-fuzz --list names them)\n")
            exit(2)
        }
        guard let target = FuzzTargets.all.first(where: { $0.name == name }) else {
            printError("custody-fuzz: no target named '\(name)' (custody-fuzz --list names them)\n")
            exit(2)
        }
        FuzzTargets.selected = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}

/// libFuzzer's per-input callback: runs the selected target on a copy of the input.
private func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTargets.selected?.run(bytes)
    return 0
}

/// libFuzzer's custom-mutator hook: the selected target's structure-aware mutator, or libFuzzer's own.
@_cdecl("LLVMFuzzerCustomMutator")
func fuzzCustomMutator(_ data: UnsafeMutablePointer<UInt8>?, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    guard let data, let mutate = FuzzTargets.selected?.mutate else { return LLVMFuzzerMutate(data, size, maxSize) }
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var random = FuzzRandom(seed: seed)
    mutate(&bytes, maxSize, &random)
    if bytes.count > maxSize { bytes.removeLast(bytes.count - maxSize) }
    bytes.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: $0.count) }
    return bytes.count
}
