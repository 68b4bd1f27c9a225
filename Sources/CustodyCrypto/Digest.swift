import CustodyBase
import CustodyIO
internal import COpenSSL

/// The linear digest algorithms custody computes, all through OpenSSL EVP.
public enum DigestAlgorithm: String, CaseIterable, Sendable, Codable, Comparable {
    /// MD5 (RFC 1321), as other forensic tools record it.
    case md5
    /// SHA-1 (FIPS 180-4), as other forensic tools record it.
    case sha1
    /// SHA-256 (FIPS 180-4).
    case sha256
    /// SHA-512 (FIPS 180-4).
    case sha512

    /// The OpenSSL name used to fetch the implementation.
    var openSSLName: String {
        switch self {
        case .md5: return "MD5"
        case .sha1: return "SHA1"
        case .sha256: return "SHA256"
        case .sha512: return "SHA512"
        }
    }

    /// Digest length in bytes.
    public var outputSize: Int {
        switch self {
        case .md5: return 16
        case .sha1: return 20
        case .sha256: return 32
        case .sha512: return 64
        }
    }

    /// The name coreutils uses in `--tag` output (`SHA256 (file) = ...`).
    public var tagName: String { openSSLName }

    /// The implementation, fetched once per process.
    var method: FetchedDigest { FetchedDigest.shared(self) }

    /// Orders algorithms as `allCases` lists them.
    public static func < (lhs: DigestAlgorithm, rhs: DigestAlgorithm) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// An `EVP_MD` fetched once and shared by every thread (OpenSSL's fetched methods are thread safe).
final class FetchedDigest: @unchecked Sendable {
    let pointer: OpaquePointer

    private init(_ algorithm: DigestAlgorithm) {
        guard let md = EVP_MD_fetch(nil, algorithm.openSSLName, nil) else {
            fatalError("OpenSSL cannot provide \(algorithm.openSSLName): \(OpenSSLError.capture("EVP_MD_fetch"))")
        }
        pointer = md
    }

    private static let md5 = FetchedDigest(.md5)
    private static let sha1 = FetchedDigest(.sha1)
    private static let sha256 = FetchedDigest(.sha256)
    private static let sha512 = FetchedDigest(.sha512)

    static func shared(_ algorithm: DigestAlgorithm) -> FetchedDigest {
        switch algorithm {
        case .md5: return md5
        case .sha1: return sha1
        case .sha256: return sha256
        case .sha512: return sha512
        }
    }
}

/// An incremental digest computation over an OpenSSL `EVP_MD_CTX`.
///
/// Not thread safe: one digester is fed by one thread at a time.
public final class Digester: @unchecked Sendable {
    /// The algorithm this digester computes.
    public let algorithm: DigestAlgorithm
    private let context: OpaquePointer

    /// A digester for `algorithm`, ready for its first input.
    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        context = ctx
        reset()
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Starts a new computation, discarding any input so far.
    public func reset() {
        guard EVP_DigestInit_ex2(context, algorithm.method.pointer, nil) == 1 else {
            fatalError("\(OpenSSLError.capture("EVP_DigestInit_ex2 \(algorithm)"))")
        }
    }

    /// Feeds bytes.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        guard EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1 else {
            fatalError("\(OpenSSLError.capture("EVP_DigestUpdate \(algorithm)"))")
        }
    }

    /// Feeds bytes.
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes and returns the digest; the digester must be reset before reuse.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.outputSize)
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &out, &length) == 1, Int(length) == out.count else {
            fatalError("\(OpenSSLError.capture("EVP_DigestFinal_ex \(algorithm)"))")
        }
        return out
    }

    /// One-shot digest of a buffer.
    public static func digest(_ algorithm: DigestAlgorithm, _ bytes: [UInt8]) -> [UInt8] {
        let digester = Digester(algorithm)
        digester.update(bytes)
        return digester.finalize()
    }
}

