/// The custody history laid out as a story: one lane per holder (jurisdiction and agency), one row per ledger entry
/// in time order, transfers as arrows between lanes, and the entries a verification found fault with.
public struct CustodyTimeline: Sendable {
    /// A holder of the evidence: a jurisdiction and, when known, an agency.
    public struct Lane: Sendable, Equatable {
        public var jurisdiction: String
        public var agency: String?

        public init(jurisdiction: String, agency: String?) {
            self.jurisdiction = jurisdiction
            self.agency = agency
        }

        public var label: String { agency.map { "\(jurisdiction) · \($0)" } ?? jurisdiction }
    }

    /// Where a transfer arrow goes, on the row of the entry that records it.
    public struct Arrow: Sendable, Equatable {
        /// The lane the arrow leaves, nil when the other party is unknown (drawn from outside the lanes).
        public var from: Int?
        /// The lane the arrow reaches, nil when the other party is unknown (drawn out of the lanes).
        public var to: Int?
        /// The row of the earlier `transfer-out` this `receive` completes, when found.
        public var sentAtRow: Int?
        /// A short text for the arrow (`to DE`, `from FR · Agency`).
        public var label: String
    }

    public struct Row: Sendable {
        public var entry: LedgerEntry
        /// Index into `lanes` of the entry's actor.
        public var lane: Int
        public var arrow: Arrow?
        /// What the verification found wrong with this entry (empty when nothing).
        public var failures: [String]
    }

    public var lanes: [Lane] = []
    public var rows: [Row] = []

    /// Lays out `entries` (sorted by time, then ledger and sequence), marking those named by failed checks of
    /// `report`.
    public init(entries: [LedgerEntry], report: VerificationReport) {
        let ordered = entries.enumerated().sorted { lhs, rhs in
            let (left, right) = (lhs.element, rhs.element)
            if left.time != right.time { return left.time < right.time }
            if left.origin != right.origin { return lhs.offset < rhs.offset }
            return left.sequence < right.sequence
        }.map(\.element)
        let actorLanes = ordered.map { Lane(jurisdiction: $0.actor.jurisdiction, agency: $0.actor.agency) }
        var lanes: [Lane] = []
        var rows: [Row] = []
        func laneIndex(_ lane: Lane) -> Int {
            if let index = lanes.firstIndex(of: lane) { return index }
            lanes.append(lane)
            return lanes.count - 1
        }
        /// The lane of a counterpart: its own when the agency is named, else an actor lane of its jurisdiction.
        func counterpartLane(_ party: TransferParty) -> Int? {
            guard let jurisdiction = party.jurisdiction else { return nil }
            if let agency = party.agency { return laneIndex(Lane(jurisdiction: jurisdiction, agency: agency)) }
            if let known = actorLanes.first(where: { $0.jurisdiction == jurisdiction }) { return laneIndex(known) }
            return laneIndex(Lane(jurisdiction: jurisdiction, agency: nil))
        }
        let failures = CustodyTimeline.entryFailures(report)
        for (index, entry) in ordered.enumerated() {
            let lane = laneIndex(actorLanes[index])
            var arrow: Arrow?
            switch entry.action {
            case .transferOut:
                let party = TransferParty.find(in: entry.details, roles: TransferParty.recipientRoles)
                let target = party.flatMap(counterpartLane)
                arrow = Arrow(from: lane, to: target, sentAtRow: nil,
                              label: "to " + CustodyTimeline.describe(party, lane: target.map { lanes[$0] }))
            case .receive:
                let party = TransferParty.find(in: entry.details, roles: TransferParty.senderRoles)
                var source = party.flatMap(counterpartLane)
                let sentAt = rows.lastIndex { row in
                    row.entry.action == .transferOut && row.arrow?.to == lane && (source == nil || row.lane == source)
                }
                if source == nil, let sentAt { source = rows[sentAt].lane }
                arrow = Arrow(from: source, to: lane, sentAtRow: sentAt,
                              label: "from " + CustodyTimeline.describe(party, lane: source.map { lanes[$0] }))
            default:
                break
            }
            rows.append(Row(entry: entry, lane: lane, arrow: arrow,
                            failures: failures[entry.sequence] ?? []))
        }
        self.lanes = lanes
        self.rows = rows
    }

    private static func describe(_ party: TransferParty?, lane: Lane?) -> String {
        if let lane { return lane.label }
        guard let party else { return "an unnamed party" }
        return [party.jurisdiction, party.agency, party.name].compactMap { $0 }.joined(separator: " · ")
    }

    /// Failed checks naming `entry N` in their detail, by sequence number.
    static func entryFailures(_ report: VerificationReport) -> [UInt64: [String]] {
        var result: [UInt64: [String]] = [:]
        for check in report.failures {
            var rest = Substring(check.detail)
            while let range = rest.firstRange(of: "entry ") {
                rest = rest[range.upperBound...]
                let digits = rest.prefix { $0.isASCII && $0.isNumber }
                if let sequence = UInt64(digits) {
                    result[sequence, default: []].append("\(check.name): \(check.detail)")
                    break
                }
            }
        }
        return result
    }
}
