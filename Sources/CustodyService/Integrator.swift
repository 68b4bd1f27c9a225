import CustodyBase
import CustodyCrypto
import CustodyLedger
import Dispatch
import Synchronization

/// Sequences submissions: collects those waiting, appends them in one transaction (`Ledger.appendBatch`, one
/// fsync and one checkpoint per integration) on its own serial queue, off the event loops, and answers each
/// waiting request with its entry, the checkpoint and its inclusion proof once the batch is durable.
///
/// Replays are refused inside the write transaction: before appending, the integrator reads the entries other
/// writers (other `serve` processes on the same store) committed since it last looked and adds their submissions
/// (officer key and nonce) to the set of those within the time window, so a submission is appended once whichever
/// server receives it, with nothing stored but the log itself.
final class Integrator: Sendable {
    typealias Waiter = CheckedContinuation<LogAppendResult, any Error>

    private let queue = DispatchQueue(label: "custody.serve.integrator")
    private let pending = Mutex<(items: [(LogSubmission, Waiter)], scheduled: Bool)>(([], false))
    private let ledger: Handoff<Ledger>
    private let key: SigningKey
    private let limits: LogServiceLimits
    /// Submissions in the log within the time window: replay key to the submission's time; and the log size
    /// they were read up to. Used on the integrator queue only.
    private let recent: Handoff<(keys: [String: Int64], seen: UInt64, pruned: Int64)>

    init(ledger: Ledger, key: SigningKey, limits: LogServiceLimits) throws {
        self.ledger = Handoff(ledger)
        self.key = key
        self.limits = limits
        recent = Handoff(([:], 0, 0))
        try loadRecent()
    }

    /// Reads back from the head the entries that may carry submissions still within the window: an accepted
    /// submission's time is within the window of its entry's time, and servers' clocks may differ by as much.
    private func loadRecent() throws {
        let log = ledger.value
        let size = try log.size()
        let horizon = Timestamp.now().secondsSinceEpoch - 3 * limits.timeWindow
        var end = size
        scan: while end > 0 {
            let start = end >= 1024 ? end - 1024 : 0
            let chunk = try log.entryBytes(from: start, count: Int(end - start))
            var older = false
            for bytes in chunk {
                guard let entry = try? LedgerEntry.parse(bytes) else { continue }
                if entry.time.secondsSinceEpoch < horizon { older = true }
                if let submission = try? LogSubmission.embedded(in: entry) {
                    recent.value.keys[submission.replayKey] = submission.time.secondsSinceEpoch
                }
            }
            end = start
            if older { break scan }
        }
        recent.value.seen = size
    }

    /// Queues `submission` and waits until its integration is durable (or refused).
    func submit(_ submission: LogSubmission) async throws -> LogAppendResult {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let (full, schedule) = pending.withLock { state -> (Bool, Bool) in
                guard state.items.count < limits.pendingSubmissions else { return (true, false) }
                state.items.append((submission, waiter))
                let schedule = !state.scheduled
                state.scheduled = true
                return (false, schedule)
            }
            if full {
                waiter.resume(throwing: LogServiceError(status: 503, "the log is busy: too many appends waiting"))
            } else if schedule {
                queue.async { self.integrateAll() }
            }
        }
    }

    private func integrateAll() {
        while true {
            let batch = pending.withLock { state -> [(LogSubmission, Waiter)] in
                let taken = Array(state.items.prefix(limits.batchSize))
                state.items.removeFirst(taken.count)
                if taken.isEmpty { state.scheduled = false }
                return taken
            }
            if batch.isEmpty { return }
            integrate(batch)
        }
    }

    /// Catches up with entries other writers committed, from `seen` to the head, inside the transaction.
    private func catchUp(_ view: LedgerAppendView) throws {
        guard recent.value.seen < view.size else { return }
        try view.entries(from: recent.value.seen) { _, bytes in
            if let entry = try? LedgerEntry.parse(bytes), let submission = try? LogSubmission.embedded(in: entry) {
                recent.value.keys[submission.replayKey] = submission.time.secondsSinceEpoch
            }
        }
        recent.value.seen = view.size
    }

    private func integrate(_ batch: [(LogSubmission, Waiter)]) {
        var outcome = [Result<Int, LogServiceError>](
            repeating: .failure(LogServiceError(status: 500, "not integrated")), count: batch.count)
        let now = Timestamp.now()
        let log = ledger.value
        do {
            let (entries, checkpoint) = try log.appendBatch(key: key, time: now) { view in
                try catchUp(view)
                var drafts: [LedgerEntryDraft] = []
                var inBatch = Set<String>()
                for (index, (submission, _)) in batch.enumerated() {
                    let replay = submission.replayKey
                    if recent.value.keys[replay] != nil || !inBatch.insert(replay).inserted {
                        outcome[index] = .failure(.refusal(.replayed(nonce: submission.nonce)))
                    } else if abs(submission.time.secondsSinceEpoch - now.secondsSinceEpoch) > limits.timeWindow {
                        outcome[index] = .failure(
                            .refusal(
                                .timeOutsideWindow(
                                    time: submission.time.description, now: now.description,
                                    window: limits.timeWindow)))
                    } else {
                        outcome[index] = .success(drafts.count)
                        drafts.append(submission.entryDraft)
                    }
                }
                return drafts
            }
            if let checkpoint {
                for (index, (submission, _)) in batch.enumerated() {
                    if case .success = outcome[index] {
                        recent.value.keys[submission.replayKey] = submission.time.secondsSinceEpoch
                    }
                }
                recent.value.seen = entries.last.map { $0.sequence + 1 } ?? recent.value.seen
                let size = recent.value.seen
                var proofs: [InclusionProof] = []
                var proofFailure: (any Error)?
                if let first = entries.first {
                    do {
                        proofs = try log.inclusionProofs(for: first.sequence..<size, size: size)
                    } catch {
                        proofFailure = error
                    }
                }
                for (index, (_, waiter)) in batch.enumerated() {
                    switch outcome[index] {
                    case .success(let position):
                        let entry = entries[position]
                        if let proofFailure {
                            // The entry is durable; only its proof could not be read now.
                            waiter.resume(
                                throwing: LogServiceError(
                                    status: 500,
                                    "entry \(entry.sequence) was appended but its proof could not be read: "
                                        + "\(proofFailure)"))
                        } else {
                            waiter.resume(
                                returning: LogAppendResult(
                                    entry: entry.bytes, checkpoint: checkpoint.bytes, proof: proofs[position]))
                        }
                    case .failure(let error):
                        waiter.resume(throwing: error)
                    }
                }
            } else {
                for (index, (_, waiter)) in batch.enumerated() {
                    if case .failure(let error) = outcome[index] { waiter.resume(throwing: error) }
                }
            }
        } catch {
            for (_, waiter) in batch {
                waiter.resume(throwing: LogServiceError(status: 503, "the log could not append: \(error)"))
            }
        }
        prune(now: now.secondsSinceEpoch)
    }

    private func prune(now: Int64) {
        guard now - recent.value.pruned >= 10 else { return }
        recent.value.pruned = now
        let horizon = now - 2 * limits.timeWindow
        recent.value.keys = recent.value.keys.filter { $0.value >= horizon }
    }
}
