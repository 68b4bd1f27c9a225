import CustodyBase
import CustodyCrypto

extension BundleSealer {
    /// The bag-info.txt fields of a sealed bundle: BagIt's own and custody's (SPEC.md section 7).
    static func makeBagInfo(bundleID: String, key: SigningKey, records: [ItemRecord], options: SealOptions,
                            oxum: String) -> [(label: String, value: String)] {
        var fields: [(label: String, value: String)] = [
            ("Source-Organization", key.identity.agency),
            ("Contact-Name", options.examiner ?? key.identity.name),
            ("External-Identifier", bundleID),
            ("Bagging-Date", Timestamp.now().dateString),
            ("Payload-Oxum", oxum),
            ("Bag-Software-Agent", "custody \(CustodyVersion.string)"),
            ("Custody-Jurisdiction", key.identity.jurisdiction),
            ("Custody-Sealed-By", "\(key.identity.name) (key \(key.identity.keyIDHex))"),
            ("Custody-Item-Count", String(records.count)),
        ]
        if let caseNumber = options.caseNumber ?? options.conditions.caseID {
            fields.append(("Custody-Case", caseNumber))
        }
        if let evidence = options.evidenceNumber { fields.append(("Custody-Evidence-Number", evidence)) }
        if let legal = options.conditions.legalBasis { fields.append(("Custody-Legal-Basis", legal)) }
        if let description = options.itemDescription { fields.append(("External-Description", description)) }
        return fields
    }
}
