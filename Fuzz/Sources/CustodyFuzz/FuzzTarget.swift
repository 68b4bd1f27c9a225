import CFuzzerDriver
import Glibc

/// One fuzz target: a name (`fuzz.sh run NAME`), what it reaches, the function fed each input, and optionally a
/// structure-aware mutator for formats whose checksums or signatures plain byte mutation would never pass.
///
/// A target is one file in `Targets/` defining a `static let` on this type, plus its line in
/// `FuzzTargets.all`. Its seeds live in `Corpus/NAME/`, its dictionary (if any) in `Dictionaries/NAME.dict`.
struct FuzzTarget: Sendable {
    /// A structure-aware mutator: changes `bytes` in place (at most `maxSize` bytes), drawing from `random`.
    typealias Mutator = @Sendable (_ bytes: inout [UInt8], _ maxSize: Int, _ random: inout FuzzRandom) -> Void

    /// The target's name: lower-case words joined by hyphens.
    let name: String
    /// The parser it reaches, one line.
    let summary: String
    /// Runs the parser on one input. It must not trap on any input; a broken invariant calls `fuzzFailure`.
    let run: @Sendable ([UInt8]) -> Void
    /// The target's own mutator, nil for libFuzzer's.
    var mutate: Mutator?

    /// A target of the given parts.
    init(name: String, summary: String, mutate: Mutator? = nil, run: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.summary = summary
        self.mutate = mutate
        self.run = run
    }
}

/// A broken invariant found by a target: prints it and aborts, which libFuzzer reports as a crash and saves the
/// input that caused it.
func fuzzFailure(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    printError("custody-fuzz: invariant broken at \(file):\(line): \(message)\n")
    abort()
}

/// libFuzzer's own mutation of `bytes` (up to `maxSize`), as a building block for structure-aware mutators.
func libFuzzerMutate(_ bytes: inout [UInt8], maxSize: Int) {
    let capacity = max(maxSize, bytes.count, 1)
    var buffer = bytes + [UInt8](repeating: 0, count: capacity - bytes.count)
    let size = buffer.withUnsafeMutableBufferPointer { LLVMFuzzerMutate($0.baseAddress, bytes.count, capacity) }
    bytes = Array(buffer[..<size])
}

/// A small deterministic generator (SplitMix64) seeded by libFuzzer, so mutations replay.
struct FuzzRandom {
    private var state: UInt64

    /// A generator from libFuzzer's seed.
    init(seed: UInt32) { state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A number in `0..<bound` (0 when `bound` is 0).
    mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }
}

/// Writes `message` to standard error unbuffered.
func printError(_ message: String) {
    let bytes = Array(message.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
