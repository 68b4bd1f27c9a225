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
    /// The `type` member of a trust store file.
    public static let type = "custody-trust-store-v1"

    /// One trusted agency key.
    public struct Entry: Sendable, Equatable {
        /// The signer name (as in signed notes).
        public var name: String
        /// The agency.
        public var agency: String
        /// The two-letter jurisdiction.
        public var jurisdiction: String
        /// The agency's Ed25519 public key.
        public var publicKey: Ed25519PublicKey
        /// The age X25519 recipient (`age1...`) transfers to this agency are encrypted to.
        public var recipient: String?
        /// When the entry was added (RFC 3339).
        public var added: String

        /// An entry from its parts (not yet validated: `TrustStore.add` checks it).
        public init(name: String, agency: String, jurisdiction: String, publicKey: Ed25519PublicKey,
                    recipient: String? = nil, added: String) {
            self.name = name
            self.agency = agency
            self.jurisdiction = jurisdiction
            self.publicKey = publicKey
            self.recipient = recipient
            self.added = added
        }

        /// The signed-note verifier key of the entry.
        public var verifierKey: NoteVerifierKey { try! NoteVerifierKey(name: name, publicKey: publicKey) }

        /// The entry as the trust store file holds it.
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

    /// The entries, in the order added.
    public private(set) var entries: [Entry] = []

    /// An empty store.
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

    /// Loads the store at `path`, or an empty store when there is no file.
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

    /// Removes the entry named `name`; throws when there is none.
    public mutating func remove(named name: String) throws {
        guard let index = entries.firstIndex(where: { $0.name == name }) else {
            throw BundleError.trustEntryMissing(name: name)
        }
        entries.remove(at: index)
    }

    /// Replaces the entry of the same name with `entry`, checked as `add` checks it; throws when there is none.
    public mutating func update(_ entry: Entry) throws {
        guard let index = entries.firstIndex(where: { $0.name == entry.name }) else {
            throw BundleError.trustEntryMissing(name: entry.name)
        }
        var checked = TrustStore()
        try checked.add(entry)
        entries[index] = checked.entries[0]
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
        /// The store holds the key (under the entry given).
        case trusted(Entry)
        /// The store has the name but a different key.
        case wrongKey(Entry)
        /// The store holds neither the name nor the key.
        case unknown
    }

    /// How a signer of `name` with `key` stands: trusted (by name, or by key under another name), a different key under
    /// that name, or unknown.
    public func standing(name: String, key: Ed25519PublicKey) -> Standing {
        guard let entry = entry(named: name) else {
            if let byKey = entries.first(where: { $0.publicKey == key }) { return .trusted(byKey) }
            return .unknown
        }
        return entry.publicKey == key ? .trusted(entry) : .wrongKey(entry)
    }

    /// A public key as read from a key file, with the signed identity that vouches for it when there is one.
    public struct KeySource: Sendable {
        /// The key file read.
        public var path: String
        /// The key.
        public var publicKey: Ed25519PublicKey
        /// The self-signed identity: the file itself (`NAME.identity.json`), or the one beside a `NAME.pub` or
        /// `NAME.vkey` (same folder and NAME) when it holds the same key.
        public var identity: Identity?
        /// Where the identity was read.
        public var identityPath: String?
        /// The key holder's name a verifier key line states (`NAME+KEYID+BASE64`).
        public var statedName: String?

        /// A source of `publicKey` alone, read from `path`.
        public init(path: String, publicKey: Ed25519PublicKey) {
            self.path = path
            self.publicKey = publicKey
        }

        /// Throws `trustIdentityDiffers` when `name`, `jurisdiction` (compared upper case) or `agency` differs from
        /// what the signed identity (or the verifier key's name) says.
        public func check(name: String, jurisdiction: String?, agency: String?) throws {
            if let statedName, statedName != name {
                throw BundleError.trustIdentityDiffers(path: path, field: "NAME", given: name, signed: statedName)
            }
            guard let identity, let identityPath else { return }
            if identity.name != name {
                throw BundleError.trustIdentityDiffers(path: identityPath, field: "NAME", given: name,
                                                       signed: identity.name)
            }
            if let jurisdiction, jurisdiction.uppercased() != identity.jurisdiction {
                throw BundleError.trustIdentityDiffers(path: identityPath, field: "--jurisdiction",
                                                       given: jurisdiction, signed: identity.jurisdiction)
            }
            if let agency, agency != identity.agency {
                throw BundleError.trustIdentityDiffers(path: identityPath, field: "--agency", given: agency,
                                                       signed: identity.agency)
            }
        }
    }

    /// Reads a public key (as `readPublicKey`) and the signed identity that goes with it, if any.
    public static func readKeySource(_ path: String) throws -> KeySource {
        let key = try readPublicKey(path)
        var source = KeySource(path: path, publicKey: key)
        let bytes = try FileSystem.readFile(path, limit: 64 << 10)
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        if text.hasPrefix("{") {
            source.identity = try? Identity.parse(bytes, source: path)
            source.identityPath = path
            return source
        }
        if let verifier = try? NoteVerifierKey(parsing: text) { source.statedName = verifier.name }
        for suffix in [".pub", ".vkey"] where path.hasSuffix(suffix) {
            let beside = String(path.dropLast(suffix.count)) + ".identity.json"
            if let identityBytes = try? FileSystem.readFile(beside, limit: 64 << 10),
               let identity = try? Identity.parse(identityBytes, source: beside), identity.publicKey == key {
                source.identity = identity
                source.identityPath = beside
            }
        }
        return source
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
