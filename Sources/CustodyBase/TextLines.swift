extension StringProtocol {
    /// The lines of a text file, split at LF and at CRLF (one `Character` in Swift, so splitting at `"\n"` alone
    /// leaves a CRLF file as a single line), and at a lone CR too when `lineEndsAtCR` (BagIt tag files, RFC 8493
    /// section 2.1). Line ends are not kept; a text ending with a line end gives a last, empty line.
    public func textLines(lineEndsAtCR: Bool = false) -> [SubSequence] {
        split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || (lineEndsAtCR && $0 == "\r") }
    }
}
