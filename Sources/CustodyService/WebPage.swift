import CustodyBase
import CustodyCrypto
import CustodyLedger

/// The read-only web page at `/` (SPEC 4.9.5): the custody timeline, newest first, in pages; a search by case,
/// bundle ID or subject; each entry with its inclusion proof against the current checkpoint. Rendered on the
/// server as escaped HTML, with no script.
enum WebPage {
    /// What the page shows: a search (empty for all) and the entry to start below (nil: the newest).
    struct Request: Sendable {
        var search: String
        var before: UInt64?
    }

    /// Entries a page lists.
    static let pageSize = 50
    /// Entries a search examines per page at most, so a search costs the same at any log size.
    static let searchBudget: UInt64 = 100_000

    static func escape(_ text: String) -> String { MarkupEscaping.escaped(text, for: .html) }

    /// Whether `entry` matches the search text (case-insensitive): its case, bundle or a subject's ID.
    static func matches(_ entry: LedgerEntry, _ needle: String) -> Bool {
        var fields = entry.subjects.map(\.id)
        for name in ["case", "bundle", "caseNumber"] {
            if let value = entry.details[name]?.stringValue { fields.append(value) }
        }
        return fields.contains { $0.lowercased().contains(needle) }
    }

    static func render(_ request: Request, ledger: Ledger) throws -> String {
        let size = try ledger.size()
        let checkpoint = try ledger.latestCheckpointWithSize()
        let needle = request.search.lowercased()
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Custody log \(escape(ledger.origin))</title>
            <style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}
            li.entry{border-bottom:1px solid #ccc;padding:.5em 0;list-style:none}
            code{font-size:.85em;word-break:break-all}</style></head><body>
            <h1>Custody log \(escape(ledger.origin))</h1>

            """
        html += "<p id=\"size\">\(size) entries, newest first.</p>\n"
        if let checkpoint {
            html += "<details><summary>Current checkpoint (size \(checkpoint.size))</summary><pre id=\"checkpoint\">"
                + escape(String(decoding: checkpoint.note, as: UTF8.self)) + "</pre></details>\n"
        }
        html += """
            <form method="get" action="/"><label>Search case, bundle ID or subject:
            <input type="search" name="q" value="\(escape(request.search))"></label>
            <button type="submit">Search</button></form>

            """
        let top = min(request.before ?? size, size)
        var next = top
        var shown: [LedgerEntry] = []
        var examined: UInt64 = 0
        while next > 0, shown.count < pageSize, examined < searchBudget {
            let count = needle.isEmpty ? min(next, UInt64(pageSize - shown.count)) : min(next, 256)
            let start = next - count
            let chunk = try ledger.entryBytes(from: start, count: Int(count))
            for bytes in chunk.reversed() where shown.count < pageSize {
                next -= 1
                examined += 1
                let entry = try LedgerEntry.parse(bytes)
                if needle.isEmpty || matches(entry, needle) { shown.append(entry) }
            }
            if shown.count == pageSize { break }
        }
        if !request.search.isEmpty {
            html += "<p id=\"results\">\(shown.count) entries match “\(escape(request.search))”"
                + (top > 0 ? " among entries \(next) to \(top - 1)" : "") + ".</p>\n"
        }
        html += "<ol id=\"timeline\">\n"
        for entry in shown {
            html += try item(entry, ledger: ledger, size: checkpoint?.size ?? size)
        }
        html += "</ol>\n"
        if next > 0 {
            var link = "/?before=\(next)"
            if !request.search.isEmpty { link += "&q=" + percentEncoded(request.search) }
            html += "<p><a id=\"older\" href=\"\(escape(link))\">Older entries</a></p>\n"
        }
        html += "</body></html>\n"
        return html
    }

    private static func item(_ entry: LedgerEntry, ledger: Ledger, size: UInt64) throws -> String {
        var who = "\(entry.actor.name) (\(entry.actor.agency), \(entry.actor.jurisdiction))"
        if let submission = try? LogSubmission.embedded(in: entry) {
            let officer = submission.officer
            who = "\(officer.name) (\(officer.agency), \(officer.jurisdiction)), signed \(submission.time)"
        }
        var html = "<li class=\"entry\" id=\"entry-\(entry.sequence)\"><strong>#\(entry.sequence) "
            + "\(escape(entry.action.rawValue))</strong> \(entry.time) by \(escape(who))"
        if !entry.subjects.isEmpty {
            html += "<br>Subjects: " + entry.subjects.map { escape($0.id) }.joined(separator: ", ")
        }
        for name in ["case", "bundle"] {
            if let value = entry.details[name]?.stringValue, !value.isEmpty {
                html += "<br>\(name == "case" ? "Case" : "Bundle"): \(escape(value))"
            }
        }
        if !entry.legalBasis.isEmpty { html += "<br>Legal basis: \(escape(entry.legalBasis))" }
        if entry.sequence < size {
            let proof = try ledger.inclusionProof(index: entry.sequence, size: size)
            html += "<details><summary>Inclusion proof in the checkpoint of size \(size)</summary>"
                + "<p>Leaf hash <code>\(proof.leafHash.hex)</code><br>Root <code>\(proof.root.hex)</code></p><ol>"
                + proof.proof.map { "<li><code>\($0.hex)</code></li>" }.joined()
                + "</ol></details>"
        }
        return html + "</li>\n"
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let unreserved = (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte)
                || byte == 45 || byte == 46 || byte == 95 || byte == 126
            if unreserved {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
