import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

/// A bundle's items, digests and custody history as CASE 1.4 / UCO 1.4 JSON-LD (caseontology.org), for the
/// investigation tools of the agencies that receive the evidence. SPEC section 8 gives the mapping.
///
/// Every node's IRI is `kb:KIND-UUID` with a version 5 UUID of the bundle, item, ledger entry or identity it
/// stands for, so the same bundle always exports the same graph and the same item or entry keeps its IRI across
/// bundles.
public enum CaseExport {
    /// The JSON-LD context: CASE/UCO prefixes, `kb:` for the nodes, `custody:` for the few custody-specific
    /// properties UCO has no term for (the tree digest, the ledger position of an entry).
    public static let context: [String: JSONValue] = [
        "kb": .string("urn:custody:kb:"),
        "custody": .string("urn:custody:ns:"),
        "case-investigation": .string("https://ontology.caseontology.org/case/investigation/"),
        "uco-action": .string("https://ontology.unifiedcyberontology.org/uco/action/"),
        "uco-core": .string("https://ontology.unifiedcyberontology.org/uco/core/"),
        "uco-identity": .string("https://ontology.unifiedcyberontology.org/uco/identity/"),
        "uco-location": .string("https://ontology.unifiedcyberontology.org/uco/location/"),
        "uco-observable": .string("https://ontology.unifiedcyberontology.org/uco/observable/"),
        "uco-tool": .string("https://ontology.unifiedcyberontology.org/uco/tool/"),
        "uco-types": .string("https://ontology.unifiedcyberontology.org/uco/types/"),
        "xsd": .string("http://www.w3.org/2001/XMLSchema#"),
    ]

    /// The UCO HashNameVocab names of custody's linear digests.
    static let hashNames: [String: String] = ["md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha512": "SHA512"]

    /// The node IRI for `kind` and a stable `key`.
    public static func iri(_ kind: String, _ key: String) -> String {
        "kb:\(kind)-" + StableIdentifier.uuid("custody:\(kind):\(key)")
    }

    static func reference(_ iri: String) -> JSONValue { .object(["@id": .string(iri)]) }
    static func typed(_ type: String, _ value: String) -> JSONValue {
        .object(["@type": .string(type), "@value": .string(value)])
    }

    /// The verification outcome as the export records it: `passed`, `failed` or `not performed`.
    public enum Verification: String, Sendable {
        /// Every check passed.
        case passed
        /// A check failed.
        case failed
        /// Exported without acting on verification.
        case notPerformed = "not performed"
    }

    /// The JSON-LD document (`@context` and `@graph`).
    /// With `history`, its entries (from the bundle and local ledgers) and signed receipts are the actions, each
    /// marked with where it was read and whether it verified.
    public static func document(summary: BundleSummary, verification: Verification,
                                history: CustodyHistory? = nil) -> JSONValue {
        var graph = Graph()
        let bundleKey = summary.bundleID ?? "unidentified"
        let bundleIRI = iri("provenance-record", "bundle:" + bundleKey)
        let fileIRIs = summary.items.map { iri("file", $0.id) }
        var objectIRIs: [String: String] = [:]
        for (item, file) in zip(summary.items, fileIRIs) { objectIRIs[item.id] = file }
        if let id = summary.bundleID { objectIRIs[id] = bundleIRI }

        var bundle: [String: JSONValue] = [
            "@id": .string(bundleIRI),
            "@type": .string("case-investigation:ProvenanceRecord"),
            "uco-core:name": .string("Sealed evidence bundle \(bundleKey)"),
            "uco-core:description": .string(bundleDescription(summary, verification: verification)),
            "uco-core:object": .array(fileIRIs.map(reference)),
            "custody:verification": .string(verification.rawValue),
        ]
        if let id = summary.bundleID { bundle["custody:bundleIdentifier"] = .string(id) }
        if let exhibit = summary.items.compactMap(\.evidenceNumber).first {
            bundle["case-investigation:exhibitNumber"] = .string(exhibit)
        }
        graph.add(.object(bundle))
        for (item, file) in zip(summary.items, fileIRIs) { graph.add(fileNode(item, iri: file)) }

        var people: [String: String] = [:]
        func personIRI(name: String, agency: String, jurisdiction: String, keyID: String) -> String {
            let key = "\(name)+\(keyID)"
            if let known = people[key] { return known }
            let person = iri("person", key)
            people[key] = person
            let organization = organizationIRI(agency: agency, jurisdiction: jurisdiction, graph: &graph)
            graph.add(.object([
                "@id": .string(person), "@type": .string("uco-identity:Person"),
                "uco-core:name": .string(name),
                "uco-core:description": .string("custody key holder \(name) (key \(keyID)), \(agency), "
                    + jurisdiction),
                "custody:keyId": .string(keyID),
            ]))
            graph.add(.object([
                "@id": .string(iri("relationship", "member:\(key)")), "@type": .string("uco-core:Relationship"),
                "uco-core:source": reference(person), "uco-core:target": reference(organization),
                "uco-core:kindOfRelationship": .string("Member_Of"), "uco-core:isDirectional": .bool(true),
            ]))
            return person
        }
        if let sealer = summary.sealer {
            _ = personIRI(name: sealer.name, agency: sealer.agency, jurisdiction: sealer.jurisdiction,
                          keyID: sealer.keyIDHex)
        }

        var actionIRIs: [String] = []
        var previousInLedger: [String: String] = [:]
        let sourced = history?.entries ?? summary.entries.map { SourcedEntry(entry: $0, sources: ["bundle"]) }
        for item in sourced.sorted(by: {
            ($0.entry.origin, $0.entry.sequence, $0.sources.first ?? "")
                < ($1.entry.origin, $1.entry.sequence, $1.sources.first ?? "")
        }) {
            let entry = item.entry
            let key = "\(entry.origin):\(entry.sequence)"
            let action = iri("investigative-action", key)
            actionIRIs.append(action)
            let performer = personIRI(name: entry.actor.name, agency: entry.actor.agency,
                                      jurisdiction: entry.actor.jurisdiction, keyID: entry.actor.keyID)
            var objects: [String] = []
            for subject in entry.subjects {
                if let known = objectIRIs[subject.id] {
                    objects.append(known)
                } else {
                    let other = iri("observable-object", subject.id)
                    objectIRIs[subject.id] = other
                    graph.add(.object(["@id": .string(other), "@type": .string("uco-observable:ObservableObject"),
                                       "uco-core:name": .string(subject.id)]))
                    objects.append(other)
                }
            }
            let record = iri("provenance-record", "entry:" + key)
            var recordNode: [String: JSONValue] = [
                "@id": .string(record), "@type": .string("case-investigation:ProvenanceRecord"),
                "uco-core:description": .string("custody after \(entry.action.rawValue) by \(entry.actor.name) "
                    + "(\(entry.actor.agency), \(entry.actor.jurisdiction)) at \(entry.time)"),
                "uco-core:object": .array(objects.map(reference)),
            ]
            let exhibits = summary.items.filter { item in entry.subjects.contains { $0.id == item.id } }
                .compactMap(\.evidenceNumber)
            if let exhibit = exhibits.first { recordNode["case-investigation:exhibitNumber"] = .string(exhibit) }
            graph.add(.object(recordNode))
            var node: [String: JSONValue] = [
                "@id": .string(action), "@type": .string("case-investigation:InvestigativeAction"),
                "uco-core:name": .string(entry.action.rawValue),
                "uco-core:description": .string(entryDescription(entry)),
                "uco-action:performer": reference(performer),
                "uco-action:location": reference(locationIRI(entry.actor.jurisdiction, graph: &graph)),
                "uco-action:object": .array(objects.map(reference)),
                "uco-action:result": .array([reference(record)]),
                "uco-action:startTime": typed("xsd:dateTime", entry.time.description),
                "custody:ledgerOrigin": .string(entry.origin),
                "custody:ledgerSequence": .int(Int64(entry.sequence)),
                "custody:leafHash": .string(entry.leafHash.hex),
            ]
            if history != nil {
                node["custody:readFrom"] = .array(item.sources.map { .string($0) })
                node["custody:verification"] = .string(item.failures.isEmpty ? "passed" : "failed")
                if !item.failures.isEmpty { node["custody:failures"] = .array(item.failures.map { .string($0) }) }
            }
            if let previous = previousInLedger[entry.origin] {
                node["case-investigation:wasInformedBy"] = reference(previous)
            }
            previousInLedger[entry.origin] = action
            if entry.action == .transferOut || entry.action == .receive,
               let party = TransferParty.recorded(in: entry), let jurisdiction = party.jurisdiction {
                let participant = party.agency.map { organizationIRI(agency: $0, jurisdiction: jurisdiction,
                                                                     graph: &graph) }
                    ?? locationIRI(jurisdiction, graph: &graph)
                node["uco-action:participant"] = .array([reference(participant)])
            }
            if entry.action == .acquire, let tool = entry.details["tool"]?.stringValue {
                node["uco-action:instrument"] = .array([reference(toolIRI(tool, graph: &graph))])
            }
            graph.add(.object(node))
        }
        for receipt in history?.receipts ?? [] {
            let statement = receipt.statement
            let receiver = statement.receiver
            let action = iri("investigative-action", "receipt:" + receipt.digest)
            actionIRIs.append(action)
            let performer = personIRI(name: receiver.key.name, agency: receiver.agency,
                                      jurisdiction: receiver.jurisdiction, keyID: receiver.key.keyIDHex)
            let objects = [statement.bundleID.flatMap { objectIRIs[$0] } ?? bundleIRI]
            var node: [String: JSONValue] = [
                "@id": .string(action), "@type": .string("case-investigation:InvestigativeAction"),
                "uco-core:name": .string("signed receipt"),
                "uco-core:description": .string("receipt \(receipt.path) signed by \(receiver.description) for "
                    + "transfer \(statement.transferID ?? "(none)"): the receiver's verification "
                    + "\(statement.passed ? "passed" : "failed"), its receive entry \(statement.entry); signature "
                    + (receipt.verified ? "verified" : "did not verify")),
                "uco-action:performer": reference(performer),
                "uco-action:location": reference(locationIRI(receiver.jurisdiction, graph: &graph)),
                "uco-action:object": .array(objects.map(reference)),
                "custody:readFrom": .array([.string(receipt.path)]),
                "custody:receiptSha256": .string(receipt.digest),
                "custody:verification": .string(receipt.verified ? "passed" : "failed"),
            ]
            if let time = receipt.time { node["uco-action:startTime"] = typed("xsd:dateTime", time.description) }
            if !receipt.failures.isEmpty { node["custody:failures"] = .array(receipt.failures.map { .string($0) }) }
            graph.add(.object(node))
        }

        let caseID = summary.conditions?.caseID ?? summary.items.compactMap(\.caseNumber).first
        if let caseID {
            var investigation: [String: JSONValue] = [
                "@id": .string(iri("investigation", caseID)), "@type": .string("case-investigation:Investigation"),
                "uco-core:name": .string(caseID),
                "case-investigation:investigationForm": .string("case"),
                "uco-core:object": .array(([bundleIRI] + fileIRIs + actionIRIs).map(reference)),
            ]
            if let conditions = summary.conditions, conditions.legalBasis != nil || conditions.mlaReference != nil {
                let authorization = iri("authorization", "\(caseID):\(bundleKey)")
                var node: [String: JSONValue] = [
                    "@id": .string(authorization), "@type": .string("case-investigation:Authorization"),
                    "case-investigation:authorizationType": .string("legal basis"),
                    "uco-core:description": .string(conditions.summaryLines.joined(separator: "; ")),
                ]
                if let reference = conditions.mlaReference {
                    node["case-investigation:authorizationIdentifier"] = .string(reference)
                }
                graph.add(.object(node))
                investigation["case-investigation:relevantAuthorization"] = .array([reference(authorization)])
            }
            graph.add(.object(investigation))
        }
        return .object(["@context": .object(context), "@graph": .array(graph.nodes)])
    }

    /// The document as indented JSON text.
    public static func text(summary: BundleSummary, verification: Verification,
                            history: CustodyHistory? = nil) -> String {
        document(summary: summary, verification: verification, history: history).prettyString
    }

    /// Nodes in the order first added; nodes with an IRI already present are not added twice.
    struct Graph {
        var nodes: [JSONValue] = []
        var seen: Set<String> = []

        mutating func add(_ node: JSONValue) {
            if let id = node["@id"]?.stringValue {
                guard seen.insert(id).inserted else { return }
            }
            nodes.append(node)
        }
    }

    static func fileNode(_ item: ItemRecord, iri file: String) -> JSONValue {
        var hashes: [JSONValue] = []
        for name in item.digests.keys.sorted() {
            guard let method = hashNames[name], let value = item.digests[name] else { continue }
            hashes.append(.object([
                "@id": .string(iri("hash", "\(item.id):\(name)")), "@type": .string("uco-types:Hash"),
                "uco-types:hashMethod": .string(method),
                "uco-types:hashValue": typed("xsd:hexBinary", value),
            ]))
        }
        let baseName = item.originalName.split(separator: "/").last.map(String.init) ?? item.originalName
        var fileFacet: [String: JSONValue] = [
            "@id": .string(iri("file-facet", item.id)), "@type": .string("uco-observable:FileFacet"),
            "uco-observable:fileName": .string(baseName),
            "uco-observable:filePath": .string(item.originalName),
            "uco-observable:sizeInBytes": .int(Int64(item.size)),
        ]
        if let dot = baseName.lastIndex(of: "."), dot != baseName.startIndex,
           baseName.index(after: dot) != baseName.endIndex {
            fileFacet["uco-observable:extension"] = .string(String(baseName[baseName.index(after: dot)...]))
        }
        let contentFacet: [String: JSONValue] = [
            "@id": .string(iri("content-data-facet", item.id)), "@type": .string("uco-observable:ContentDataFacet"),
            "uco-observable:sizeInBytes": .int(Int64(item.size)),
            "uco-observable:hash": .array(hashes),
            "custody:treeDigestName": .string(TreeChunkSize.digestName(item.chunkSize)),
            "custody:treeDigest": .string(item.tree),
        ]
        var node: [String: JSONValue] = [
            "@id": .string(file), "@type": .string("uco-observable:File"),
            "uco-core:name": .string(item.originalName),
            "uco-core:hasFacet": .array([.object(fileFacet), .object(contentFacet)]),
            "custody:itemIdentifier": .string(item.id),
            "custody:itemNumber": .int(Int64(item.number)),
        ]
        var description = ["evidence item \(item.number) (\(item.id)), acquired \(item.acquisitionStart) to "
            + "\(item.acquisitionEnd) with \(item.tool)"]
        if let text = item.itemDescription { description.append(text) }
        if let examiner = item.examiner { description.append("examiner: \(examiner)") }
        if let notes = item.notes { description.append("notes: \(notes)") }
        if !item.badRanges.isEmpty {
            description.append("\(item.badRanges.count) unreadable range(s) zero-filled: "
                + JSONValue.array(item.badRanges).canonicalString)
        }
        node["uco-core:description"] = .string(description.joined(separator: "; "))
        return .object(node)
    }

    static func organizationIRI(agency: String, jurisdiction: String, graph: inout Graph) -> String {
        let organization = iri("organization", "\(jurisdiction):\(agency)")
        let location = locationIRI(jurisdiction, graph: &graph)
        graph.add(.object([
            "@id": .string(organization), "@type": .string("uco-identity:Organization"),
            "uco-core:name": .string(agency),
            "uco-core:description": .string("agency in jurisdiction \(jurisdiction)"),
        ]))
        graph.add(.object([
            "@id": .string(iri("relationship", "located:\(jurisdiction):\(agency)")),
            "@type": .string("uco-core:Relationship"),
            "uco-core:source": reference(organization), "uco-core:target": reference(location),
            "uco-core:kindOfRelationship": .string("Located_At"), "uco-core:isDirectional": .bool(true),
        ]))
        return organization
    }

    static func locationIRI(_ jurisdiction: String, graph: inout Graph) -> String {
        let location = iri("location", jurisdiction)
        graph.add(.object([
            "@id": .string(location), "@type": .string("uco-location:Location"),
            "uco-core:name": .string("jurisdiction \(jurisdiction)"),
            "uco-core:hasFacet": .array([.object([
                "@id": .string(iri("simple-address-facet", jurisdiction)),
                "@type": .string("uco-location:SimpleAddressFacet"),
                "uco-location:country": .string(jurisdiction),
            ])]),
        ]))
        return location
    }

    static func toolIRI(_ tool: String, graph: inout Graph) -> String {
        let node = iri("tool", tool)
        var members: [String: JSONValue] = [
            "@id": .string(node), "@type": .string("uco-tool:Tool"), "uco-core:name": .string(tool),
        ]
        let parts = tool.split(separator: " ", maxSplits: 1)
        if parts.count == 2 {
            members["uco-core:name"] = .string(String(parts[0]))
            members["uco-tool:version"] = .string(String(parts[1]))
        }
        graph.add(.object(members))
        return node
    }

    static func bundleDescription(_ summary: BundleSummary, verification: Verification) -> String {
        var parts = ["\(summary.items.count) item(s) sealed"]
        if let collection = summary.collection {
            parts = ["collection of \(collection.items) item(s) sealed (\(collection.files) files, "
                + "\(collection.bytes) bytes; items root \(collection.itemsRoot?.hex ?? "not verified"))"]
            if collection.acquisitionErrorCount > 0 {
                parts.append("\(collection.acquisitionErrorCount) item(s) recorded with an acquisition error")
            }
        }
        if let sealer = summary.sealer { parts.append("by \(sealer.name) (\(sealer.agency), \(sealer.jurisdiction))") }
        if let checkpoint = summary.checkpoint {
            parts.append("ledger \(checkpoint.origin) checkpoint size \(checkpoint.size) root \(checkpoint.root.hex)")
        }
        parts.append("verification when exported: \(verification.rawValue)")
        return parts.joined(separator: "; ")
    }

    static func entryDescription(_ entry: LedgerEntry) -> String {
        var text = "custody ledger \(entry.origin) entry \(entry.sequence): \(entry.action.rawValue) by "
            + "\(entry.actor.name) (\(entry.actor.agency), \(entry.actor.jurisdiction))"
        if !entry.legalBasis.isEmpty { text += "; legal basis: \(entry.legalBasis)" }
        if !entry.details.isEmpty { text += "; details: " + JSONValue.object(entry.details).canonicalString }
        return text
    }
}
