import CustodyAge
import CustodyBase
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger

/// Foreign agencies' public keys that a verifier trusts, with jurisdiction, agency and (for transfers) age
/// recipient. Stored as one canonical JSON file:
/// `{"entries":[{"agency":...,"jurisdiction":...,"keyId":...,"name":...,"publicKey":BASE64,"recipient":...,
/// "verifierKey":...}],"type":"custody-trust-store-v1"}`.
public struct TrustStore: Sendable {
    public static let type = "custody-trust-store-v1"

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var agency: String
        public var jurisdiction: String
        public var publicKey: Ed25519PublicKey
        /// The age X25519 recipient (`age1...`) transfers to this agency are encrypted to.
        public var recipient: String?
        public var added: String

        public init(name: String, agency: String, jurisdiction: String, publicKey: Ed25519PublicKey,
                    recipient: String? = nil, added: String) {
            self.name = name
            self.agency = agency
            self.jurisdiction = jurisdiction
            self.publicKey = publicKey
            self.recipient = recipient
            self.added = added
        }

        public var verifierKey: NoteVerifierKey { try! NoteVerifierKey(name: name, publicKey: publicKey) }

        public var json: JSONValue {
            var members: [String: JSONValue] = [
                "name": .string(name), "agency": .string(agency), "jurisdiction": .string(jurisdiction),
                "publicKey": .string(Base64.encode(publicKey.rawBytes)), "keyId": .string(verifierKey.keyIDHex),
                "verifierKey": .string(verifierKey.encoded), "added": .string(added),
            ]
            if let recipient { members["recipient"] = .string(recipient) }
            return .object(members)
        }
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    /// Loads a store; a missing file is an error naming it (use `loadOrEmpty` when creating).
    public static func load(_ path: String) throws -> TrustStore {
        let bytes = try FileSystem.readFile(path, limit: 16 << 20)
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw BundleError.trustStoreNotJSON(path: path, reason: "\(error)")
        }
        guard json["type"]?.stringValue == TrustStore.type, let list = json["entries"]?.arrayValue else {
            throw BundleError.trustStoreWrongType(path: path)
        }
        var store = TrustStore()
        for (index, item) in list.enumerated() {
            guard let name = item["name"]?.stringValue, let agency = item["agency"]?.stringValue,
                  let jurisdiction = item["jurisdiction"]?.stringValue,
                  let keyText = item["publicKey"]?.stringValue, let raw = Base64.decode(keyText),
                  let key = try? Ed25519PublicKey(rawBytes: raw) else {
                throw BundleError.trustEntryIncomplete(path: path, entry: index + 1)
            }
            let entry = Entry(name: name, agency: agency, jurisdiction: jurisdiction, publicKey: key,
                              recipient: item["recipient"]?.stringValue, added: item["added"]?.stringValue ?? "")
            if let stated = item["keyId"]?.stringValue, stated != entry.verifierKey.keyIDHex {
                throw BundleError.trustEntryKeyIDMismatch(path: path, entry: index + 1, name: name)
            }
            store.entries.append(entry)
        }
        return store
    }

    public static func loadOrEmpty(_ path: String) throws -> TrustStore {
        FileSystem.exists(path) ? try load(path) : TrustStore()
    }

    /// Adds an agency; refuses a second entry with the same name (remove it first), or a name, agency,
    /// jurisdiction or age recipient that is not valid.
    public mutating func add(_ entry: Entry) throws {
        try Identity.validateName(entry.name)
        try Identity.validateAgency(entry.agency)
        var entry = entry
        entry.jurisdiction = try CountryCode.validate(entry.jurisdiction)
        if let recipient = entry.recipient {
            do {
                entry.recipient = try AgeX25519Recipient(parsing: recipient).encoded
            } catch {
                throw BundleError.recipientInvalid(reason: "\(error)")
            }
        }
        if entries.contains(where: { $0.name == entry.name }) {
            throw BundleError.trustEntryExists(name: entry.name)
        }
        entries.append(entry)
    }

    /// The entry for a signer name.
    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Writes the store durably (temporary file, fsync, rename).
    public func save(_ path: String) throws {
        let json = JSONValue.object(["type": .string(TrustStore.type), "entries": .array(entries.map(\.json))])
        try FileSystem.writeAtomically(path, json.canonicalBytes + [10])
    }

    /// How a signer stands against this store.
    public enum Standing: Equatable, Sendable {
        case trusted(Entry)
        /// The store has the name but a different key.
        case wrongKey(Entry)
        case unknown
    }

    public func standing(name: String, key: Ed25519PublicKey) -> Standing {
        guard let entry = entry(named: name) else {
            if let byKey = entries.first(where: { $0.publicKey == key }) { return .trusted(byKey) }
            return .unknown
        }
        return entry.publicKey == key ? .trusted(entry) : .wrongKey(entry)
    }

    /// Reads a public key from a PEM SPKI file, a `.vkey` line, or an identity file.
    public static func readPublicKey(_ path: String) throws -> Ed25519PublicKey {
        let bytes = try FileSystem.readFile(path, limit: 64 << 10)
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        if text.hasPrefix("-----BEGIN") {
            guard text.split(separator: "\n").filter({ $0.hasPrefix("-----BEGIN") }).count == 1 else {
                throw BundleError.severalPEMBlocks(path: path)
            }
            do {
                return try Ed25519PublicKey(pem: bytes)
            } catch {
                throw BundleError.publicKeyUnusable(path: path, reason: "\(error)")
            }
        }
        if text.hasPrefix("{") {
            do {
                return try Identity.parse(bytes, source: path).publicKey
            } catch let failure as any CustodyFailure {
                throw BundleError.identityFileRefused(path: path, reason: failure.description)
            } catch {
                throw BundleError.publicKeyUnusable(path: path, reason: "\(error)")
            }
        }
        if let key = try? NoteVerifierKey(parsing: text) { return key.publicKey }
        throw BundleError.publicKeyUnknownFormat(path: path)
    }
}
