import CustodyBase
import CustodyIO
internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL.
public enum SecureRandom {
    /// `count` bytes from OpenSSL's CSPRNG (a failure of the CSPRNG stops the process).
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        guard RAND_bytes(&out, Int32(count)) == 1 else {
            fatalError("RAND_bytes failed: \(OpenSSLError.capture("RAND_bytes"))")
        }
        return out
    }
}
