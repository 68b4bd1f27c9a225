import CustodyBase

/// Why `custody disclose` refused or could not make a disclosure; each case names what and where.
public enum DisclosureError: CustodyFailure, Equatable {
    /// Neither `--item` nor `--range` selected anything.
    case emptySelection
    /// An `--item` path or glob that names no item of the bundle.
    case itemNotFound(pattern: String, bundle: String)
    /// A `--range` whose path or glob names no item of the bundle.
    case rangeItemNotFound(pattern: String, bundle: String)
    /// A `--range` that is not `PATH:START-END` with START <= END.
    case rangeMalformed(text: String)
    /// A range reaching past the item's last byte.
    case rangeBeyondEnd(path: String, start: UInt64, end: UInt64, size: UInt64)
    /// A range of an item that has no stored content (a directory, a link, an unreadable file).
    case rangeWithoutContent(path: String)
    /// Two ranges (or a range and the whole item) of one item that share bytes.
    case rangesOverlap(path: String, first: String, second: String)
    /// A range of an item the source disclosure holds only in part, outside the chunks it holds.
    case rangeNotHeld(path: String, start: UInt64, end: UInt64)
    /// The source bundle failed a check: nothing is disclosed from it.
    case sourceDoesNotVerify(bundle: String, check: String, detail: String)
    /// The signing key does not own the discloser's ledger.
    case keyDoesNotOwnLedger(key: String, owner: String)
    /// An image bundle whose seal names every item: withholding any of them is impossible.
    case imageBundleWithholds(bundle: String, items: Int, selected: Int)
    /// An image bundle (v1 seal): not supported as a disclosure source.
    case imageBundleUnsupported(bundle: String)
    /// A statement field (recipient, legal basis, MLA reference) holding a line break or control character.
    case fieldNotOneLine(field: String)
    /// A statement that does not parse (`problem` says where).
    case statementMalformed(problem: String)
    /// The work folder of an earlier, interrupted disclosure to the same output is still there.
    case interruptedDisclosureExists(out: String, workPath: String)

    /// Operational (exit 2) for what the user asked; verification (exit 1) when the source does not verify or a
    /// statement is malformed.
    public var kind: FailureKind {
        switch self {
        case .sourceDoesNotVerify, .statementMalformed: return .verification
        default: return .operational
        }
    }

    /// The one-line message.
    public var description: String {
        switch self {
        case .emptySelection:
            return "nothing selected: give --item PATH, --items-from FILE or --range PATH:START-END"
        case .itemNotFound(let pattern, let bundle):
            return "--item '\(Printable.escapingControls(pattern))': no item of \(bundle) has that path (paths are "
                + "as sealed, BASE/...; see custody verify --list)"
        case .rangeItemNotFound(let pattern, let bundle):
            return "--range '\(Printable.escapingControls(pattern))': no item of \(bundle) with stored content has "
                + "that path"
        case .rangeMalformed(let text):
            return "--range '\(Printable.escapingControls(text))': not PATH:START-END (content byte offsets, "
                + "inclusive, START <= END)"
        case .rangeBeyondEnd(let path, let start, let end, let size):
            return "--range \(path):\(start)-\(end): beyond the item's end (\(size) bytes: the last offset is "
                + "\(size == 0 ? "none" : String(size - 1)))"
        case .rangeWithoutContent(let path):
            return "--range \(path): the item has no stored content (disclose it whole with --item)"
        case .rangesOverlap(let path, let first, let second):
            return "\(path): \(first) and \(second) overlap; give each byte once"
        case .rangeNotHeld(let path, let start, let end):
            return "--range \(path):\(start)-\(end): the source disclosure holds only other chunks of this item"
        case .sourceDoesNotVerify(let bundle, let check, let detail):
            return "\(bundle) does not verify (\(check): \(detail)); nothing was disclosed"
        case .keyDoesNotOwnLedger(let key, let owner):
            return "the key of \(key) does not own the ledger (its owner is \(owner)); nothing was written"
        case .imageBundleWithholds(let bundle, let items, let selected):
            return "\(bundle) is an image bundle whose seal names all \(items) items' digests and sizes: "
                + "withholding \(items - selected) of them is impossible; disclose every item (whole or ranges)"
        case .imageBundleUnsupported(let bundle):
            return "\(bundle): not a collection bundle or disclosure (custody disclose works on collection bundles)"
        case .fieldNotOneLine(let field):
            return "\(field): must be one line without control characters"
        case .statementMalformed(let problem):
            return "disclosure statement: \(problem)"
        case .interruptedDisclosureExists(let out, let workPath):
            return "an interrupted disclosure to \(out) left \(workPath) (it was never complete): remove it and run "
                + "the command again"
        }
    }
}
