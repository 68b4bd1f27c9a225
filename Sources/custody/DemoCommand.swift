import ArgumentParser
import CustodyKit

#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The main job on the bundled samples: two agencies seal, verify, catch tampering and transfer.",
        discussion: """
            Works in a new temporary folder (printed; kept with --keep): creates a sealing agency (FR) and a \
            receiving agency (DE), seals the files in Samples/, verifies the bundle as the receiving agency would \
            (against its trust store), flips one byte of a copy and shows verification naming the damage, then \
            transfers the bundle to the receiving agency (age-encrypted tar), which verifies it and signs a \
            receipt that the sender records.
            """
    )

    @Option(help: "Folder of sample evidence (default: Samples/ in the working directory).")
    var samples = "Samples"
    @Option(help: "Work folder to create (default: a new folder under $TMPDIR or /tmp).")
    var workdir: String?
    @Flag(help: "Keep the work folder instead of removing it.") var keep = false

    func run() throws {
        guard FileSystem.exists(samples) else {
            throw CommandError.operational("\(samples): no sample folder; run from the package root or pass "
                + "--samples DIR")
        }
        let base = workdir ?? DemoCommand.temporaryFolder()
        guard !FileSystem.exists(base) else { throw CommandError.operational("\(base) already exists") }
        try FileSystem.createDirectory(base, mode: 0o700)
        defer { if !keep { FileSystem.removeTree(base) } }
        func step(_ text: String) { Terminal.line("\n== \(text)") }
        Terminal.line("custody demo in \(base)\(keep ? "" : " (removed at the end; --keep keeps it)")")

        step("1. Two agencies create their identities (Ed25519 signing keys bound to name, agency, country)")
        let (sender, senderAge) = try KeyDirectory.create(name: "fr-officer", agency: "Police judiciaire (demo)",
                                                          jurisdiction: "FR", in: base + "/keys", passphrase: nil)
        let (receiver, receiverAge) = try KeyDirectory.create(name: "de-officer",
                                                              agency: "Bundeskriminalamt (demo)", jurisdiction: "DE",
                                                              in: base + "/keys", passphrase: nil)
        for key in [sender, receiver] {
            Terminal.line("   \(key.identity.name) (\(key.identity.agency), \(key.identity.jurisdiction)): "
                + key.identity.verifierKey.encoded)
        }

        step("2. The sending agency opens its custody ledger")
        let ledgerPath = base + "/fr-custody.ledger"
        let ledger = try Ledger.create(path: ledgerPath, origin: "police.fr.example/custody", key: sender)
        Terminal.line("   \(ledgerPath): origin \(ledger.origin)")

        step("3. It seals the evidence in \(samples)/ into a BagIt bundle")
        var options = SealOptions()
        options.caseNumber = "FR-2026-0042"
        options.evidenceNumber = "E-1"
        options.examiner = "fr-officer"
        options.itemDescription = "Files seized from a suspect's laptop (demo data)"
        options.conditions.legalBasis = "UN Convention against Cybercrime, art. 40 (mutual legal assistance)"
        options.conditions.purposes = ["investigation of case FR-2026-0042"]
        options.conditions.personalDataCategories = ["communications content"]
        let bundle = base + "/bundle-FR-2026-0042"
        let sealed = try BundleSealer.seal(paths: [samples], out: bundle, ledger: ledger, key: sender,
                                           options: options)
        Terminal.line("   \(bundle): \(sealed.items.count) items, bundle \(sealed.bundleID)")
        for item in sealed.items {
            Terminal.line("   - \(item.originalName): \(ByteSize.describe(item.size)), "
                + "\(TreeChunkSize.digestName(item.chunkSize)) \(item.tree.prefix(16))...")
        }
        let entries = sealed.entries.map(String.init).joined(separator: ", ")
        Terminal.line("   ledger entries \(entries), signed checkpoint "
            + "at size \(sealed.checkpointSize)")

        step("4. The receiving agency trusts the sender's key and verifies every byte, signature and entry")
        var trust = TrustStore()
        try trust.add(TrustStore.Entry(name: sender.identity.name, agency: sender.identity.agency,
                                       jurisdiction: sender.identity.jurisdiction,
                                       publicKey: sender.identity.publicKey,
                                       added: Timestamp.now().description))
        try trust.save(base + "/de-trust.json")
        let (report, _) = BundleVerifier(root: bundle, trust: trust).verify()
        let passed = report.checks.filter { $0.status == .passed }.count
        Terminal.line("   \(passed) checks passed, \(report.failures.count) failed: "
            + (report.passed ? "VERIFIED" : "FAILED"))
        guard report.passed else {
            for failure in report.failures { Terminal.line("   FAIL \(failure.name): \(failure.detail)") }
            throw CommandError.verification("the freshly sealed bundle did not verify")
        }

        step("5. Someone flips one byte of a copy in transit")
        let tampered = base + "/bundle-tampered"
        try DemoCommand.copyTree(bundle, to: tampered)
        let victim = sealed.items.max { $0.storedSize < $1.storedSize }!
        try DemoCommand.flipByte(tampered + "/" + victim.payloadPath, at: victim.storedSize / 2)
        Terminal.line("   flipped the byte at offset \(victim.storedSize / 2) of \(victim.payloadPath)")
        let (bad, _) = BundleVerifier(root: tampered, trust: trust).verify()
        for failure in bad.failures { Terminal.line("   FAIL \(failure.name): \(failure.detail)") }
        guard !bad.passed else { throw CommandError.verification("the tampered copy verified: this is a bug") }
        Terminal.line("   the tampered copy is rejected, naming the item and chunk")

        step("6. Transfer to the DE agency; it receives, verifies, and signs a receipt")
        var senderTrust = TrustStore()
        try senderTrust.add(TrustStore.Entry(name: receiver.identity.name, agency: receiver.identity.agency,
                                             jurisdiction: receiver.identity.jurisdiction,
                                             publicKey: receiver.identity.publicKey,
                                             recipient: receiverAge.recipient.encoded,
                                             added: Timestamp.now().description))
        try senderTrust.save(base + "/fr-trust.json")
        let recipient = try TransferRecipient.resolve(receiver.identity.name, trust: senderTrust)
        var transferOptions = TransferOptions()
        transferOptions.trust = senderTrust
        transferOptions.selfRecipient = senderAge.recipient
        transferOptions.mlaReference = "MLA FR-DE 2026/0042"
        let sent = try BundleTransfer.send(bundle: bundle, to: recipient, out: base + "/to-de.age", ledger: ledger,
                                           key: sender, options: transferOptions)
        Terminal.line("   \(sent.file): age v1 file, \(ByteSize.describe(sent.statement.file!.size)), sha256 "
            + "\(sent.statement.file!.sha256.prefix(16))...; signed note \(sent.notePath)")
        Terminal.line("   FR ledger entry \(sent.entry.sequence) (transfer-out to \(recipient.agency ?? "?"), "
            + "\(recipient.jurisdiction ?? "?")); age -d -i keys/de-officer.age to-de.age | tar -t lists it")
        let receiverLedger = try Ledger.create(path: base + "/de-custody.ledger", origin: "bka.de.example/custody",
                                               key: receiver)
        var receiveOptions = ReceiveOptions()
        receiveOptions.trust = trust
        let received = try BundleReceiver.receive(file: sent.file, identities: [receiverAge], ledger: receiverLedger,
                                                  key: receiver, out: base + "/received-by-de",
                                                  options: receiveOptions)
        let receivedChecks = received.report.checks.filter { $0.status == .passed }.count
        Terminal.line("   DE decrypted and unpacked it safely, \(receivedChecks) checks passed: "
            + (received.report.passed ? "VERIFIED" : "FAILED") + "; DE ledger entry \(received.entry.sequence) "
            + "(receive)")
        guard received.report.passed else {
            for failure in received.report.failures { Terminal.line("   FAIL \(failure.name): \(failure.detail)") }
            throw CommandError.verification("the transferred bundle did not verify")
        }
        let imported = try ReceiptImporter.importReceipt(received.receiptPath, ledger: ledger, key: sender,
                                                         trust: senderTrust)
        Terminal.line("   DE's signed receipt \(received.receiptPath) names DE's checkpoint (size "
            + "\(imported.receiverCheckpoint.size)); FR recorded it at entry \(imported.entry.sequence) (receipt)")
        Terminal.line("   the hand-off is now signed by both sides, in both ledgers")

        step("Done")
        Terminal.line("   verify it yourself: custody verify BUNDLE --trust TRUST, bagit.py --validate BUNDLE, "
            + "gzip -dc BUNDLE/data/FILE.gz | sha256sum")
        if keep { Terminal.line("   files kept in \(base)") }
    }

    static func temporaryFolder() -> String {
        let parent = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        return parent + "/custody-demo-" + Identifier.uuid().prefix(8)
    }

    static func copyTree(_ source: String, to destination: String) throws {
        let info = try FileSystem.status(source, followLinks: false)
        if info.st_mode & S_IFMT == S_IFDIR {
            try FileSystem.createDirectory(destination)
            for name in try FileSystem.directoryEntries(source) {
                try copyTree(source + "/" + name, to: destination + "/" + name)
            }
        } else {
            try FileSystem.writeAtomically(destination, FileSystem.readFile(source, limit: 1 << 30))
        }
    }

    static func flipByte(_ path: String, at offset: UInt64) throws {
        let descriptor = try FileDescriptor.open(path, O_RDWR)
        defer { descriptor.close() }
        var byte: [UInt8] = [0]
        _ = try byte.withUnsafeMutableBytes { try descriptor.readFully(into: $0, at: offset) }
        byte[0] ^= 0x01
        try byte.withUnsafeBytes { try descriptor.writeAll($0, at: offset) }
    }
}
