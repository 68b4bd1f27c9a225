import CustodyAge
import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTar

/// The use-limitation rule on passing evidence to a third jurisdiction (pure logic; the ledger lookups are in
/// `BundleTransfer`).
///
/// A bundle sealed in jurisdiction A and held in B may go back to A or stay within B freely. Sending it to any
/// other jurisdiction C is an onward transfer: refused when the conditions say `forbidden`, allowed when they say
/// `allowed`, and otherwise (`requires-consent`, the default) allowed only once the holder's ledger records the
/// original sender's signed consent for this bundle and C.
public enum OnwardTransferRule {
    /// Whether a transfer may go ahead, and why.
    public enum Decision: Sendable, Equatable {
        /// The holder is in the sealer's jurisdiction: the holder's own evidence, no onward condition applies.
        case ownEvidence
        /// Back to the sealer's jurisdiction or within the holder's: not a third jurisdiction.
        case notThirdJurisdiction
        /// An onward transfer the conditions allow.
        case allowed
        /// An onward transfer that needs the sealer's recorded consent for this jurisdiction.
        case needsConsent(jurisdiction: String)
        /// An onward transfer the conditions forbid.
        case forbidden(jurisdiction: String)
        /// An onward transfer may be needed but the target's jurisdiction is unknown (a bare age1 recipient).
        case unknownJurisdiction
    }

    /// Decides what a transfer by `holder` of a bundle sealed by `sealer` to `target` (a jurisdiction, nil when
    /// unknown) requires under `rule`.
    public static func evaluate(sealer: Identity, holder: Identity, target: String?,
                                rule: Conditions.OnwardTransfer) -> Decision {
        if sealer.jurisdiction == holder.jurisdiction { return .ownEvidence }
        guard let target else { return rule == .allowed ? .allowed : .unknownJurisdiction }
        if target == sealer.jurisdiction || target == holder.jurisdiction { return .notThirdJurisdiction }
        switch rule {
        case .allowed: return .allowed
        case .requiresConsent: return .needsConsent(jurisdiction: target)
        case .forbidden: return .forbidden(jurisdiction: target)
        }
    }

    /// The stricter of two rules (`forbidden` > `requires-consent` > `allowed`).
    public static func strictest(_ first: Conditions.OnwardTransfer, _ second: Conditions.OnwardTransfer)
        -> Conditions.OnwardTransfer {
        func rank(_ rule: Conditions.OnwardTransfer) -> Int {
            switch rule {
            case .allowed: return 0
            case .requiresConsent: return 1
            case .forbidden: return 2
            }
        }
        return rank(first) >= rank(second) ? first : second
    }

    /// Whether a consent statement covers a transfer of `bundleID` to `jurisdiction` (and `agency`) on `date`.
    public static func covers(_ consent: ConsentStatement, bundleID: String, jurisdiction: String, agency: String?,
                              on date: CivilDate) -> Bool {
        guard consent.bundleID == bundleID, consent.toJurisdiction == jurisdiction else { return false }
        if let wanted = consent.toAgency, wanted != agency { return false }
        if let expires = consent.expires, expires < date { return false }
        return true
    }
}
