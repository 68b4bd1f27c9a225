#!/usr/bin/env python3
"""An independent verifier of custody disclosures, written from SPEC.md sections 3.1, 4.1-4.6, 5.13 and 5.14 only
(no custody code): Python standard library plus `cryptography` for Ed25519.

    disclosure_verify.py SUB

Prints one line per check and exits 0 when every disclosed byte leads to the original seal, 1 when anything
does not, 2 when SUB cannot be read.
"""
import base64
import hashlib
import json
import os
import struct
import sys
import zlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FAILURES = []


def fail(message):
    FAILURES.append(message)
    print("FAIL  " + message)


def ok(message):
    print("ok    " + message)


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def tree_root(leaves):
    """RFC 6962 Merkle Tree Hash."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(name, public):
    return sha256(name.encode() + b"\n\x01" + public)[:4]


def open_note(data, keys):
    """C2SP signed note: returns (text, signer name) for the first valid signature by a known key."""
    text_end = data.rfind(b"\n\n")
    if text_end < 0:
        raise ValueError("not a signed note")
    text = data[:text_end + 1]
    for line in data[text_end + 2:].decode().split("\n"):
        if not line:
            continue
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line")
        name, sig = line[2:].split(" ")
        raw = base64.b64decode(sig)
        for known_name, public in keys:
            if known_name == name and key_id(name, public) == raw[:4]:
                Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text)
                return text.decode(), name
    raise ValueError("no signature by a known key")


def load_identities(path):
    keys, identities = [], {}
    with open(path, "rb") as handle:
        for line in handle.read().split(b"\n"):
            if not line:
                continue
            doc = json.loads(line)
            public = base64.b64decode(doc["publicKey"])
            unsigned = {k: v for k, v in doc.items() if k != "signature"}
            Ed25519PublicKey.from_public_bytes(public).verify(
                base64.b64decode(doc["signature"]), b"custody identity v1\n" + canonical(unsigned))
            if doc["keyId"] != key_id(doc["name"], public).hex():
                raise ValueError("identity keyId does not derive from its key")
            keys.append((doc["name"], public))
            identities[doc["name"]] = doc
    return keys, identities


def check_entry(line, keys):
    """A ledger entry line: canonical, signed by its actor (4.2)."""
    entry = json.loads(line)
    if canonical(entry) != line:
        raise ValueError("entry is not canonical JSON")
    unsigned = {k: v for k, v in entry.items() if k != "sig"}
    public = next(p for n, p in keys if n == entry["actor"]["name"] and key_id(n, p).hex() == entry["actor"]["keyId"])
    Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(entry["sig"]),
                                                      b"custody ledger entry v1\n" + canonical(unsigned))
    return entry


def parse_checkpoint(text):
    lines = text.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


def check_proof(proof, line, checkpoint):
    _, size, root = checkpoint
    return (bytes.fromhex(proof["leafHash"]) == leaf_hash(line) and proof["size"] == size
            and bytes.fromhex(proof["root"]) == root
            and verify_inclusion(leaf_hash(line), proof["index"], size, [bytes.fromhex(p) for p in proof["proof"]],
                                 root))


def members(data):
    """Custody gzip members (3.1): yields (index, flags, chunk bytes)."""
    offset = 0
    while offset < len(data):
        header = data[offset:offset + 32]
        if len(header) < 32 or header[:4] != b"\x1f\x8b\x08\x04" or header[12:14] != b"CU":
            raise ValueError("member at packed byte %d is not a custody gzip member" % offset)
        flags, shift = header[17], header[18]
        size, index = struct.unpack("<IQ", header[20:32])
        member = data[offset:offset + size]
        inflater = zlib.decompressobj(-15)
        chunk = inflater.decompress(member[32:-8], (1 << shift) + 1)
        if len(chunk) > 1 << shift or not inflater.eof or inflater.unused_data:
            raise ValueError("member %d does not inflate to at most one chunk" % index)
        crc, isize = struct.unpack("<II", member[-8:])
        if zlib.crc32(chunk) != crc or isize != len(chunk):
            raise ValueError("member %d: CRC-32 or ISIZE differs" % index)
        yield index, flags, chunk, 1 << shift
        offset += size


def covering(ranges, chunk_size):
    chunks = []
    for start, end in ranges:
        for chunk in range(start // chunk_size, end // chunk_size + 1):
            if not chunks or chunk > chunks[-1]:
                chunks.append(chunk)
    return chunks


def chunk_length(index, size, chunk_size):
    return min(chunk_size, size - index * chunk_size)


def parse_statement(text):
    lines = text.split("\n")[:-1]
    assert lines[0] == "custody disclosure v1", "not a disclosure statement"
    statement = {"bundle": lines[1][len("bundle "):], "seal": lines[2][len("seal "):]}
    count, root = lines[3].split(" ")[1:]
    statement["count"], statement["root"] = int(count), bytes.fromhex(root)
    statement["previous"] = lines[4][len("previous "):]
    _, disclosed, _, withheld = lines[5].split(" ")
    statement["withheld"] = int(withheld)
    items = []
    for line in lines[6:6 + int(disclosed)]:
        fields = line.split(" ")
        if fields[2] == "whole":
            items.append((int(fields[1]), None))
        else:
            items.append((int(fields[1]), [tuple(int(b) for b in r.split("-")) for r in fields[3].split(",")]))
    statement["items"] = items
    tail = lines[6 + int(disclosed):]
    statement["to"], statement["legal"], statement["mla"], statement["time"] = (
        tail[0][3:], tail[1][len("legal-basis "):], tail[2][len("mla-ref "):], tail[3][len("time "):])
    return statement


def main(sub):
    def read(name):
        with open(os.path.join(sub, name), "rb") as handle:
            return handle.read()

    # BagIt: declaration, payload manifest (every file under data/ listed, digests), tag manifest.
    if read("bagit.txt") != b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n":
        fail("bagit.txt is not the BagIt 1.0 declaration")
    listed = {}
    for line in read("manifest-sha256.txt").decode().splitlines():
        digest, path = line.split("  ", 1)
        listed[path] = digest
        if hashlib.sha256(read(path)).hexdigest() != digest:
            fail("payload %s differs from manifest-sha256.txt" % path)
    on_disk = set()
    for folder, _, files in os.walk(os.path.join(sub, "data")):
        for name in files:
            on_disk.add(os.path.relpath(os.path.join(folder, name), sub))
    if on_disk != set(listed):
        fail("data/ and manifest-sha256.txt list different files")
    for line in read("tagmanifest-sha256.txt").decode().splitlines():
        digest, path = line.split("  ", 1)
        if hashlib.sha256(read(path)).hexdigest() != digest:
            fail("tag file %s differs from tagmanifest-sha256.txt" % path)
    ok("bag: %d payload files" % len(listed))

    keys, identities = load_identities(os.path.join(sub, "custody/identities.json"))
    seal_bytes = read("custody/seal.txt")
    seal_text, sealer = open_note(seal_bytes, keys)
    seal_lines = seal_text.split("\n")
    if seal_lines[0] != "custody seal v2":
        fail("the seal is not a collection seal (v2)")
    bundle = seal_lines[1][len("bundle "):]
    count, root = seal_lines[3].split(" ")[1:]
    count, root = int(count), bytes.fromhex(root)
    ok("seal by %s: bundle %s, %d items, root %s" % (sealer, bundle, count, root.hex()))

    checkpoint_text, _ = open_note(read("custody/checkpoint.txt"), keys)
    checkpoint = parse_checkpoint(checkpoint_text)
    proofs = json.loads(read("custody/proofs.json"))
    sealed_at = None
    for line in read("custody/ledger-excerpt.jsonl").split(b"\n"):
        if not line:
            continue
        entry = check_entry(line, keys)
        proof = next((p for p in proofs if p["index"] == entry["seq"]), None)
        if proof is None or not check_proof(proof, line, checkpoint):
            fail("ledger entry %d is not proven in the checkpoint" % entry["seq"])
        if entry["action"] == "seal" and any(
                s["id"] == bundle and s.get("items-root") == root.hex() and s.get("items") == count
                for s in entry["subjects"]) and entry["actor"]["name"] == sealer:
            sealed_at = entry["time"]
    if sealed_at is None:
        fail("no proven seal entry commits to the items root and count")
    else:
        ok("seal entry proven in checkpoint %s size %d" % (checkpoint[0], checkpoint[1]))

    statement_bytes = read("custody/disclosure/statement.txt")
    statement_text, discloser = open_note(statement_bytes, keys)
    statement = parse_statement(statement_text)
    if (statement["bundle"] != bundle or statement["seal"] != hashlib.sha256(seal_bytes).hexdigest()
            or statement["count"] != count or statement["root"] != root
            or statement["withheld"] != count - len(statement["items"])):
        fail("the statement does not match the seal")
    else:
        ok("statement by %s: %d disclosed, %d withheld" % (discloser, len(statement["items"]), statement["withheld"]))

    entry_line = read("custody/disclosure/ledger-entry.jsonl").rstrip(b"\n")
    entry = check_entry(entry_line, keys)
    own_checkpoint = parse_checkpoint(open_note(read("custody/disclosure/checkpoint.txt"), keys)[0])
    if (entry["action"] != "disclose" or entry["actor"]["name"] != discloser
            or not any(s.get("statement-sha256") == hashlib.sha256(statement_bytes).hexdigest()
                       for s in entry["subjects"])
            or not check_proof(json.loads(read("custody/disclosure/ledger-proof.json")), entry_line, own_checkpoint)):
        fail("the disclose entry does not commit to the statement or is not proven")
    else:
        ok("disclose entry %d proven in %s size %d" % (entry["seq"], own_checkpoint[0], own_checkpoint[1]))

    records = [line for line in read("custody/disclosure/records.jsonl").split(b"\n") if line]
    record_proofs = json.loads(read("custody/disclosure/record-proofs.json"))
    chunk_proofs = {}
    if os.path.exists(os.path.join(sub, "custody/disclosure/chunks.json")):
        for item in json.loads(read("custody/disclosure/chunks.json")):
            chunks = [c for first, last in item["chunks"] for c in range(first, last + 1)]
            chunk_proofs[item["n"]] = dict(zip(chunks, item["proofs"]))
    if len(records) != len(statement["items"]) or len(record_proofs) != len(records):
        fail("records and statement differ in number")
    payloads = set()
    for line, proof, (number, ranges) in zip(records, record_proofs, statement["items"]):
        record = json.loads(line)
        if record["n"] != number or proof["n"] != number or not verify_inclusion(
                leaf_hash(line), number - 1, count, [bytes.fromhex(p) for p in proof["proof"]], root):
            fail("record %d is not proven into the items root" % number)
            continue
        if "payload" not in record:
            ok("record %d (%s) proven" % (number, record.get("path")))
            continue
        payloads.add(record["payload"])
        size, chunk_size, tree = record["size"], record["chunkSize"], bytes.fromhex(record["tree"])
        data = read(record["payload"])
        if record["encoding"] == "gzip":
            pieces = [(i, c) for i, flags, c, cs in members(data) if not flags & 4 and cs == chunk_size]
        else:
            wanted = range((size + chunk_size - 1) // chunk_size) if ranges is None else covering(ranges, chunk_size)
            pieces, offset = [], 0
            for i in wanted:
                pieces.append((i, data[offset:offset + chunk_length(i, size, chunk_size)]))
                offset += chunk_length(i, size, chunk_size)
        if ranges is None:
            content = b"".join(c for _, c in pieces)
            leaves = [leaf_hash(c) for _, c in pieces]
            if ([i for i, _ in pieces] != list(range(len(pieces))) or len(content) != size
                    or tree_root(leaves) != tree
                    or hashlib.sha256(content).hexdigest() != record["digests"]["sha256"]):
                fail("item %d (%s): content differs from its sealed record" % (number, record["path"]))
            else:
                ok("item %d (%s): whole, %d bytes match" % (number, record["path"], size))
            continue
        chunks = covering(ranges, chunk_size)
        bad = [i for i, _ in pieces] != chunks or ranges[-1][1] >= size
        for i, chunk in pieces:
            proof = chunk_proofs.get(number, {}).get(i)
            if bad or proof is None or len(chunk) != chunk_length(i, size, chunk_size) or not verify_inclusion(
                    leaf_hash(chunk), i, (size + chunk_size - 1) // chunk_size, [bytes.fromhex(p) for p in proof],
                    tree):
                bad = True
        if bad:
            fail("item %d (%s): the range's chunks are not proven into its tree digest" % (number, record["path"]))
        else:
            ok("item %d (%s): %d chunks proven into its tree digest" % (number, record["path"], len(chunks)))
    if payloads != set(listed):
        fail("the payload files are not exactly the disclosed records' payloads")
    if FAILURES:
        print("FAILED: %d checks failed" % len(FAILURES))
        return 1
    print("%d of %d items disclosed; sealed by %s (%s) at %s, checkpoint %d; disclosed by %s (%s) at %s" % (
        len(statement["items"]), count, sealer, identities[sealer]["jurisdiction"], sealed_at, checkpoint[1],
        discloser, identities[discloser]["jurisdiction"], statement["time"]))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: disclosure_verify.py SUB", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except (ValueError, KeyError, InvalidSignature, StopIteration, AssertionError, IndexError, zlib.error) as error:
        print("FAIL  %s: %r" % (type(error).__name__, error))
        sys.exit(1)
    except OSError as error:
        print("cannot read: %s" % error, file=sys.stderr)
        sys.exit(2)
