import CustodyBase
import CustodyBundle
import CustodyLedger
import CustodyTransfer

/// How the report words a ledger entry for a reader who is not an engineer: which ledger it is in, what it
/// records, and its details as labelled fields rather than JSON.
enum EntryWording {
    /// The entry's number with its ledger told apart: `FR #0` (the ledger owner's jurisdiction and the entry's
    /// sequence number), so that entry 0 of the sender's ledger and entry 0 of the receiver's do not look alike.
    static func number(_ entry: LedgerEntry) -> String {
        "\(entry.actor.jurisdiction) #\(entry.sequence)"
    }

    /// What the entry records, in a few words: its action, and for a consent the grant it records
    /// (`CONSENT TO NL, granted by fr (FR)`).
    static func action(_ entry: LedgerEntry) -> String {
        let name = entry.action.rawValue.uppercased()
        guard entry.action == .consent else { return name }
        var text = name
        if let target = entry.details["toJurisdiction"]?.stringValue { text += " TO \(target)" }
        let grantor = entry.details["grantedBy"]
        if let name = grantor?["name"]?.stringValue {
            text += ", granted by \(name)" + (grantor?["jurisdiction"]?.stringValue.map { " (\($0))" } ?? "")
        }
        return text
    }

    /// Who acted: the actor's name, and for a consent another agency granted, who recorded it.
    static func actor(_ entry: LedgerEntry) -> String {
        if entry.action == .consent, entry.details["role"]?.stringValue == "received" {
            return "\(entry.actor.name) (recorded the grant)"
        }
        return entry.actor.name
    }

    /// `name (agency, CC), key KEYID` for an identity-like object, else nil.
    static func party(_ value: JSONValue?) -> String? {
        guard let name = value?["name"]?.stringValue else { return nil }
        var text = name
        if let agency = value?["agency"]?.stringValue, let country = value?["jurisdiction"]?.stringValue {
            text += " (\(agency), \(country))"
        }
        if let keyID = value?["keyId"]?.stringValue { text += ", key \(keyID)" }
        return text
    }

    /// Labels for the detail keys custody writes.
    static let labels: [String: String] = [
        "bundle": "Bundle", "item": "Item", "name": "Original name", "source": "Source", "started": "Started",
        "finished": "Finished", "tool": "Tool", "case": "Case", "items": "Items", "file": "File",
        "fileSha256": "File SHA-256", "fileSize": "File size (bytes)", "mlaReference": "MLA reference",
        "recipient": "Recipient", "sealer": "Sealed by", "sender": "Sent by", "receiver": "Received by",
        "statementTime": "Statement signed", "transfer": "Transfer", "transferEntry": "Sender's transfer entry",
        "receiverEntry": "Receiver's entry", "result": "Verification result", "failures": "Failures",
        "conditions": "Conditions", "conditionsSha256": "Conditions SHA-256", "bundlePath": "Received into",
        "consent": "Consent", "grantedBy": "Granted by", "role": "Role", "toJurisdiction": "To jurisdiction",
        "toAgency": "To agency", "purpose": "Purpose", "expires": "Expires", "bundleCheckpoint": "Bundle checkpoint",
        "senderCheckpoint": "Sender's checkpoint", "transferCheckpoint": "Checkpoint after the transfer",
        "receiverCheckpoint": "Receiver's checkpoint", "receiptSha256": "Receipt SHA-256", "reason": "Reason",
        "badRanges": "Unreadable ranges", "order": "Order", "authority": "Authority", "data": "Data",
        "issued": "Issued", "skipped": "Not sealed",
    ]

    /// Details left out: signed texts and proofs a reader checks with custody, not by eye (they stay in the
    /// ledger and in `custody ledger export`).
    static let omitted: Set<String> = ["note", "receipt", "consistencyProofs"]

    /// The entry's details as (label, value) pairs in a stable order, values in words. What the row says
    /// elsewhere is left out: the bundle ID when it is `bundleID`, the item number, an empty failure list, and
    /// conditions equal to the bundle's (`bundleConditions`, their summary lines) are said to be so.
    static func details(_ entry: LedgerEntry, bundleID: String?, bundleConditions: [String]?)
        -> [(label: String, value: String)] {
        var pairs: [(String, String)] = []
        for key in entry.details.keys.sorted() where !omitted.contains(key) {
            let value = entry.details[key]!
            let label = labels[key] ?? key
            if key == "bundle", value.stringValue == bundleID { continue }
            if key == "item" { continue }
            if key == "failures", value.arrayValue?.isEmpty == true { continue }
            if key == "conditions", let bundleConditions,
               let conditions = try? Conditions(json: value, source: "ledger entry"),
               conditions.summaryLines == bundleConditions {
                pairs.append((label, "as sealed with the bundle (see Conditions)"))
                continue
            }
            if key == "role", entry.action == .consent {
                pairs.append(("Role", value.stringValue == "received"
                    ? "imported by the holder (the grant signed by the original sender)" : "granted by the sealer"))
                continue
            }
            pairs.append((label, words(value, key: key)))
        }
        return pairs
    }

    /// A value in words: strings as they are, identities as `name (agency, CC), key ID`, checkpoints as
    /// `origin, size N, root R`, conditions as their summary, lists joined, anything else as compact JSON.
    static func words(_ value: JSONValue, key: String) -> String {
        switch value {
        case .string(let text): return text
        case .int(let number): return "\(number)"
        case .bool(let flag): return flag ? "yes" : "no"
        case .array(let values):
            return values.isEmpty ? "none" : values.map { words($0, key: key) }.joined(separator: "; ")
        case .object(let members):
            if let party = party(value) { return party }
            if key == "conditions", let conditions = try? Conditions(json: value, source: "ledger entry") {
                return conditions.summaryLines.joined(separator: "; ")
            }
            if let origin = members["origin"]?.stringValue, let size = members["size"]?.intValue {
                return "\(origin), size \(size)" + (members["root"]?.stringValue.map { ", root \($0)" } ?? "")
            }
            if key == "recipient", let age = members["ageRecipient"]?.stringValue { return age }
            return members.keys.sorted().map { "\($0): \(words(members[$0]!, key: $0))" }.joined(separator: ", ")
        default:
            return value.canonicalString
        }
    }
}
