import CustodyBase
import CustodyCrypto
import CustodyIO

/// The base64 flavour of age headers: the standard alphabet without `=` padding, canonical only (see `Base64`).
public enum AgeBase64 {
    /// Encodes bytes without padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Base64.encode(bytes, padded: false)
    }

    /// Encodes bytes without padding, as ASCII bytes.
    static func encodeBytes(_ bytes: [UInt8]) -> [UInt8] { Base64.encodeBytes(bytes, padded: false) }

    /// Decodes a canonical unpadded encoding; nil for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? { Base64.decode(text, padded: false) }

    /// Decodes a canonical unpadded encoding given as ASCII bytes; nil for anything else.
    static func decode<Bytes: Collection>(bytes text: Bytes) -> [UInt8]? where Bytes.Element == UInt8 {
        Base64.decode(bytes: text, padded: false)
    }
}
