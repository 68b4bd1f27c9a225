import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

/// The custody history laid out as a story: one lane per holder (jurisdiction and agency), one row per ledger entry
/// in time order, transfers as arrows between lanes, and the entries a verification found fault with.
public struct CustodyTimeline: Sendable {
    /// A holder of the evidence: a jurisdiction and, when known, an agency.
    public struct Lane: Sendable, Equatable {
        /// The lane's jurisdiction.
        public var jurisdiction: String
        /// The lane's agency, when known.
        public var agency: String?

        /// A lane for an agency of a jurisdiction.
        public init(jurisdiction: String, agency: String?) {
            self.jurisdiction = jurisdiction
            self.agency = agency
        }

        /// `CC · agency`, or the jurisdiction alone.
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

    /// What a row shows: a ledger entry, or a signed receipt given to the report.
    public enum Event: Sendable {
        /// A ledger entry.
        case entry(LedgerEntry)
        /// A signed receipt.
        case receipt(ReceiptRecord)
    }

    /// One row of the timeline: an event and, for a transfer, its arrow.
    public struct Row: Sendable {
        /// The event.
        public var event: Event
        /// Index into `lanes` of the entry's actor (the receipt's signer).
        public var lane: Int
        /// The arrow of a transfer, if the row is one.
        public var arrow: Arrow?
        /// What the verification found wrong with this entry or receipt (empty when nothing).
        public var failures: [String]
        /// Where the entry was read: `bundle` and/or ledger file paths; the receipt file's path.
        public var sources: [String]

        /// The ledger entry, nil for a receipt.
        public var entry: LedgerEntry? {
            if case .entry(let entry) = event { return entry }
            return nil
        }

        /// The receipt, nil for a ledger entry.
        public var receipt: ReceiptRecord? {
            if case .receipt(let receipt) = event { return receipt }
            return nil
        }
    }

    /// The lanes, left to right.
    public var lanes: [Lane] = []
    /// The rows, top to bottom.
    public var rows: [Row] = []

    /// Lays out the bundle's `entries`, marking those named by failed checks of `report`.
    public init(entries: [LedgerEntry], report: VerificationReport) {
        let failures = CustodyTimeline.entryFailures(report)
        self.init(history: CustodyHistory(entries: entries.map {
            SourcedEntry(entry: $0, sources: ["bundle"], failures: failures[$0.sequence] ?? [])
        }))
    }

    /// Lays out a history: each ledger's entries in sequence order, the ledgers and receipts merged by time (at
    /// the same second, transfer-out before receive before the receipt before its import).
    public init(history: CustodyHistory) {
        var streams: [[(time: Timestamp?, rank: Int, event: Event, failures: [String], sources: [String])]] = []
        var origins: [String: Int] = [:]
        for sourced in history.entries {
            let item = (time: Optional(sourced.entry.time), rank: CustodyTimeline.rank(sourced.entry.action),
                        event: Event.entry(sourced.entry), failures: sourced.failures, sources: sourced.sources)
            if let index = origins[sourced.entry.origin] {
                streams[index].append(item)
            } else {
                origins[sourced.entry.origin] = streams.count
                streams.append([item])
            }
        }
        for index in streams.indices {
            streams[index].sort { lhs, rhs in
                guard case .entry(let left) = lhs.event, case .entry(let right) = rhs.event else { return false }
                return left.sequence < right.sequence
            }
        }
        for receipt in history.receipts {
            streams.append([(receipt.time, 3, .receipt(receipt), receipt.failures, [receipt.path])])
        }
        var heads = [Int](repeating: 0, count: streams.count)
        var merged: [(event: Event, failures: [String], sources: [String])] = []
        while true {
            var best: Int?
            for (index, stream) in streams.enumerated() where heads[index] < stream.count {
                guard let current = best else { best = index; continue }
                let candidate = stream[heads[index]], chosen = streams[current][heads[current]]
                switch (candidate.time, chosen.time) {
                case let (left?, right?) where left != right:
                    if left < right { best = index }
                case (.some, .none):
                    best = index
                case (.none, .some):
                    break
                default:
                    if candidate.rank < chosen.rank { best = index }
                }
            }
            guard let best else { break }
            let next = streams[best][heads[best]]
            merged.append((next.event, next.failures, next.sources))
            heads[best] += 1
        }
        layOut(merged)
    }

    /// Orders events of different ledgers recorded in the same second by how a hand-off proceeds.
    static func rank(_ action: LedgerAction) -> Int {
        switch action {
        case .transferOut: return 1
        case .receive: return 2
        case .receipt: return 4
        default: return 0
        }
    }

    private mutating func layOut(_ events: [(event: Event, failures: [String], sources: [String])]) {
        let entries = events.compactMap { item -> LedgerEntry? in
            if case .entry(let entry) = item.event { return entry }
            return nil
        }
        var lanes: [Lane] = []
        var rows: [Row] = []
        func laneIndex(_ lane: Lane) -> Int {
            if let index = lanes.firstIndex(of: lane) { return index }
            lanes.append(lane)
            return lanes.count - 1
        }
        func actorLane(_ actor: LedgerActor) -> Lane { Lane(jurisdiction: actor.jurisdiction, agency: actor.agency) }
        /// The lane of a counterpart: the lane of the actor holding its key when one acts in the history, its own
        /// when the agency is named, else an actor lane of its jurisdiction.
        func counterpartLane(_ party: TransferParty) -> Int? {
            if let keyID = party.keyID,
               let actor = entries.first(where: { $0.actor.keyID == keyID
                   && (party.name == nil || $0.actor.name == party.name) })?.actor {
                return laneIndex(actorLane(actor))
            }
            guard let jurisdiction = party.jurisdiction else { return nil }
            if let agency = party.agency { return laneIndex(Lane(jurisdiction: jurisdiction, agency: agency)) }
            if let known = entries.first(where: { $0.actor.jurisdiction == jurisdiction }) {
                return laneIndex(actorLane(known.actor))
            }
            return laneIndex(Lane(jurisdiction: jurisdiction, agency: nil))
        }
        for item in events {
            switch item.event {
            case .receipt(let receipt):
                let receiver = receipt.statement.receiver
                let party = TransferParty(jurisdiction: receiver.jurisdiction, agency: receiver.agency,
                                          name: receiver.key.name, keyID: receiver.key.keyIDHex)
                let lane = counterpartLane(party) ?? laneIndex(Lane(jurisdiction: receiver.jurisdiction,
                                                                    agency: receiver.agency))
                rows.append(Row(event: item.event, lane: lane, arrow: nil, failures: item.failures,
                                sources: item.sources))
            case .entry(let entry):
                let lane = laneIndex(actorLane(entry.actor))
                var arrow: Arrow?
                switch entry.action {
                case .transferOut:
                    let party = TransferParty.recorded(in: entry)
                    let target = party.flatMap(counterpartLane)
                    arrow = Arrow(from: lane, to: target, sentAtRow: nil,
                                  label: "to " + CustodyTimeline.describe(party, lane: target.map { lanes[$0] }))
                case .receive:
                    let party = TransferParty.recorded(in: entry)
                    var source = party.flatMap(counterpartLane)
                    let transfer = entry.details["transfer"]?.stringValue
                    let sentAt = rows.lastIndex { row in
                        guard let sent = row.entry, sent.action == .transferOut else { return false }
                        if let transfer, let other = sent.details["transfer"]?.stringValue { return other == transfer }
                        return row.arrow?.to == lane && (source == nil || row.lane == source)
                    }
                    if source == nil, let sentAt { source = rows[sentAt].lane }
                    arrow = Arrow(from: source, to: lane, sentAtRow: sentAt,
                                  label: "from " + CustodyTimeline.describe(party, lane: source.map { lanes[$0] }))
                default:
                    break
                }
                rows.append(Row(event: item.event, lane: lane, arrow: arrow, failures: item.failures,
                                sources: item.sources))
            }
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
