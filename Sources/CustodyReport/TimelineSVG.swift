import CustodyBase
import CustodyBundle
import CustodyCrypto
import CustodyEngine
import CustodyIO
import CustodyLedger
import CustodyTransfer

/// Colours and sizes of the SVG timeline.
enum TimelineStyle {
    static let custodyColor = "#0969da"
    static let transferColor = "#8250df"
    static let handlingColor = "#1a7f37"
    static let otherColor = "#57606a"
    static let failColor = "#c62828"
    static let laneWidth = 132
    static let margin = 12
    static let headerHeight = 58
    static let rowHeight = 48
    static let failureLineHeight = 15
    static let labelGap = 18
    static let minimumWidth = 820
    static let labelWidth = 640

    static func color(_ action: LedgerAction) -> String {
        switch action {
        case .acquire, .seal: return custodyColor
        case .transferOut, .receive, .receipt, .consent: return transferColor
        case .verify, .access, .examine, .copy: return handlingColor
        default: return otherColor
        }
    }
}

/// The texts of one timeline row.
struct RowText {
    var cssClass: String
    var dataAttributes: String
    var tooltip: String
    var headline: String
    var action: String
    var actor: String
    var second: String
    var color: String

    init(_ row: CustodyTimeline.Row, summary: BundleSummary) {
        let from = row.sources == ["bundle"] ? ""
            : "[" + row.sources.map(RowText.shortSource).joined(separator: " + ") + "] "
        switch row.event {
        case .entry(let entry):
            cssClass = "entry"
            dataAttributes = " data-sequence=\"\(entry.sequence)\" data-origin=\"\(HTMLText.escaped(entry.origin))\""
            tooltip = "entry \(entry.sequence) of \(entry.origin): \(entry.action.rawValue) by "
                + "\(entry.actor.name) (\(entry.actor.agency), \(entry.actor.jurisdiction)) at \(entry.time); "
                + "read from " + row.sources.joined(separator: ", ")
            headline = "\(EntryWording.number(entry))  \(entry.time.dateString) "
                + "\(entry.time.description.dropFirst(11))  "
            action = EntryWording.action(entry)
            actor = EntryWording.actor(entry)
            second = from + "\(entry.actor.agency), \(entry.actor.jurisdiction)"
            if let arrow = row.arrow { second += " — \(arrow.label)" }
            let about = HTMLReport.subjectText(entry, summary: summary)
            if !about.isEmpty { second += " — \(about)" }
            color = TimelineStyle.color(entry.action)
        case .receipt(let receipt):
            let statement = receipt.statement
            cssClass = "receipt"
            dataAttributes = " data-receipt=\"\(HTMLText.escaped(receipt.path))\""
            tooltip = "receipt \(receipt.path) signed by \(statement.receiver.description) at \(statement.time): "
                + (receipt.verified ? "signature verified" : "FAILED")
            let time = receipt.time.map { "\($0.dateString) \($0.description.dropFirst(11))" } ?? "(no time)"
            headline = "    \(time)  "
            action = "RECEIPT"
            actor = statement.receiver.key.name
            second = from + (receipt.verified ? "signature verified, receiver's result "
                + (statement.passed ? "passed" : "failed") : "signed receipt did NOT verify")
                + " — \(statement.receiver.agency), \(statement.receiver.jurisdiction)"
            color = TimelineStyle.transferColor
        }
    }

    /// The last path component.
    static func shortSource(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

extension HTMLReport {
    /// The timeline as an inline SVG element: lane headers, one row per entry (dot in the actor's lane, label on
    /// the right), transfer arrows between lanes, a dashed line in the recipient's lane while evidence is in
    /// transit, and a last row with this verification's outcome.
    public static func timelineSVG(_ timeline: CustodyTimeline, summary: BundleSummary, report: VerificationReport,
                                   generatedAt: Timestamp) -> String {
        typealias S = TimelineStyle
        let laneCount = max(timeline.lanes.count, 1)
        let lanesRight = S.margin + laneCount * S.laneWidth
        let labelX = lanesRight + S.labelGap
        let width = max(S.minimumWidth, labelX + S.labelWidth)
        let charactersPerLine = (width - labelX - S.margin) / 7
        func laneX(_ lane: Int) -> Int { S.margin + lane * S.laneWidth + S.laneWidth / 2 }
        var rowTop: [Int] = []
        var y = S.headerHeight
        for row in timeline.rows {
            rowTop.append(y)
            y += S.rowHeight + min(row.failures.count, 3) * S.failureLineHeight
        }
        let verdictTop = y + 8
        let height = verdictTop + 44
        func dotY(_ index: Int) -> Int { rowTop[index] + 16 }

        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" "
            + "height=\"\(height)\" role=\"img\" aria-label=\"Custody timeline of \(timeline.rows.count) entries\" "
            + "font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\" font-size=\"13\">\n"
        svg += "<title>Custody timeline</title>\n<defs><marker id=\"arrowhead\" viewBox=\"0 0 10 10\" refX=\"9\" "
            + "refY=\"5\" markerWidth=\"4\" markerHeight=\"4\" orient=\"auto-start-reverse\">"
            + "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"\(S.transferColor)\"/></marker></defs>\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>\n"
        // Lane headers and guides.
        for (index, lane) in timeline.lanes.enumerated() {
            let x = laneX(index)
            let left = S.margin + index * S.laneWidth
            svg += "<g class=\"lane\"><title>\(esc(lane.label))</title>"
                + "<rect x=\"\(left + 3)\" y=\"6\" width=\"\(S.laneWidth - 6)\" height=\"\(S.headerHeight - 14)\" "
                + "rx=\"5\" fill=\"#f0f2f4\" stroke=\"#d0d7de\"/>"
                + "<text x=\"\(x)\" y=\"26\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"15\">"
                + "\(esc(HTMLText.truncated(lane.jurisdiction, 14)))</text>"
                + "<text x=\"\(x)\" y=\"42\" text-anchor=\"middle\" font-size=\"11\" fill=\"#57606a\">"
                + "\(esc(HTMLText.truncated(lane.agency ?? "(agency not named)", 19)))</text></g>\n"
            svg += "<line x1=\"\(x)\" y1=\"\(S.headerHeight - 8)\" x2=\"\(x)\" y2=\"\(verdictTop - 4)\" "
                + "stroke=\"#c8ced6\" stroke-width=\"2\" stroke-dasharray=\"2 4\"/>\n"
        }
        // Evidence in transit: from the transfer-out row to the matching receive, in the recipient's lane.
        for (index, row) in timeline.rows.enumerated() {
            guard let arrow = row.arrow, let sent = arrow.sentAtRow, let lane = arrow.to else { continue }
            svg += "<line class=\"transit\" x1=\"\(laneX(lane))\" y1=\"\(dotY(sent))\" x2=\"\(laneX(lane))\" "
                + "y2=\"\(dotY(index) - 8)\" stroke=\"\(S.transferColor)\" stroke-width=\"2\" "
                + "stroke-dasharray=\"6 4\"/>\n"
        }
        for (index, row) in timeline.rows.enumerated() {
            let failed = !row.failures.isEmpty
            let cy = dotY(index)
            let cx = laneX(row.lane)
            let text = RowText(row, summary: summary)
            let color = failed ? S.failColor : text.color
            svg += "<g class=\"\(text.cssClass)\(failed ? " failed" : "")\"\(text.dataAttributes)>"
            svg += "<title>\(esc(text.tooltip))</title>"
            svg += "<line x1=\"\(cx + 8)\" y1=\"\(cy)\" x2=\"\(labelX - 4)\" y2=\"\(cy)\" stroke=\"#e3e6ea\"/>"
            if let arrow = row.arrow { svg += arrowSVG(arrow, y: cy, laneX: laneX, lanesRight: lanesRight) }
            if row.receipt != nil {
                svg += "<rect x=\"\(cx - 7)\" y=\"\(cy - 7)\" width=\"14\" height=\"14\" fill=\"\(color)\" "
                    + "transform=\"rotate(45 \(cx) \(cy))\" stroke=\"\(failed ? "#7f0000" : "#ffffff")\" "
                    + "stroke-width=\"2\"/>"
            } else {
                svg += "<circle cx=\"\(cx)\" cy=\"\(cy)\" r=\"\(failed ? 9 : 7)\" fill=\"\(color)\""
                    + (failed ? " stroke=\"#7f0000\" stroke-width=\"2\"" : " stroke=\"#ffffff\" stroke-width=\"2\"")
                    + "/>"
            }
            svg += "<text x=\"\(labelX)\" y=\"\(cy + 4)\"\(failed ? " fill=\"\(S.failColor)\"" : "")>"
                + "<tspan font-family=\"DejaVu Sans Mono, monospace\" font-size=\"12\">\(esc(text.headline))</tspan>"
                + "<tspan font-weight=\"bold\">\(esc(text.action))</tspan>"
                + "<tspan> by \(esc(HTMLText.truncated(text.actor, 40)))</tspan></text>"
            svg += "<text x=\"\(labelX)\" y=\"\(cy + 21)\" font-size=\"12\" fill=\"#57606a\">"
                + "\(esc(HTMLText.truncated(text.second, charactersPerLine)))</text>"
            for (line, failure) in row.failures.prefix(3).enumerated() {
                svg += "<text x=\"\(labelX)\" y=\"\(cy + 21 + (line + 1) * S.failureLineHeight)\" font-size=\"12\" "
                    + "fill=\"\(S.failColor)\">\(esc(HTMLText.truncated("FAILED " + failure, charactersPerLine)))"
                    + "</text>"
            }
            svg += "</g>\n"
        }
        svg += verdictSVG(report, generatedAt: generatedAt, y: verdictTop, width: width)
        return svg + "</svg>"
    }

    static func arrowSVG(_ arrow: CustodyTimeline.Arrow, y: Int, laneX: (Int) -> Int, lanesRight: Int) -> String {
        typealias S = TimelineStyle
        var x1 = arrow.from.map(laneX) ?? ((arrow.to.map(laneX) ?? S.margin) - S.laneWidth / 2 + 4)
        var x2 = arrow.to.map(laneX) ?? (lanesRight + 4)
        if arrow.from != nil, arrow.from == arrow.to { x2 = x1 + S.laneWidth / 2 - 6 }
        let direction = x2 >= x1 ? 1 : -1
        x1 += arrow.from == nil ? 0 : direction * 9
        x2 -= arrow.to == nil ? 0 : direction * 10
        let unknown = arrow.from == nil || arrow.to == nil
        var text = "<line class=\"transfer\" x1=\"\(x1)\" y1=\"\(y)\" x2=\"\(x2)\" y2=\"\(y)\" "
            + "stroke=\"\(S.transferColor)\" stroke-width=\"3\" marker-end=\"url(#arrowhead)\""
            + (unknown ? " stroke-dasharray=\"5 3\"" : "") + "/>"
        if unknown {
            let labelX = arrow.to == nil ? x2 - 6 : x1 + 4
            text += "<text x=\"\(labelX)\" y=\"\(y - 7)\" font-size=\"11\" fill=\"\(S.transferColor)\" "
                + "text-anchor=\"\(arrow.to == nil ? "end" : "start")\">?</text>"
        }
        return text
    }

    static func verdictSVG(_ report: VerificationReport, generatedAt: Timestamp, y: Int, width: Int) -> String {
        typealias S = TimelineStyle
        let failed = !report.passed
        let text: String
        if failed {
            let names = orderedUnique(report.failures.map(\.name))
            text = "Verification at \(generatedAt): FAILED, \(report.failures.count) check"
                + "\(report.failures.count == 1 ? "" : "s") (\(names.joined(separator: ", ")))"
        } else {
            text = "Verification at \(generatedAt): every check passed"
        }
        let stroke = failed ? S.failColor : S.handlingColor
        return "<g class=\"verdict\(failed ? " failed" : "")\"><rect x=\"\(S.margin)\" y=\"\(y)\" "
            + "width=\"\(width - 2 * S.margin)\" height=\"32\" rx=\"5\" fill=\"\(failed ? "#fdecea" : "#eaf6ec")\" "
            + "stroke=\"\(stroke)\" stroke-width=\"2\"/><text x=\"\(S.margin + 12)\" y=\"\(y + 21)\" "
            + "font-weight=\"bold\" fill=\"\(stroke)\">"
            + "\(esc(HTMLText.truncated(text, (width - 2 * S.margin - 24) / 8)))</text></g>\n"
    }
}
