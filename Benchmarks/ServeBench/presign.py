#!/usr/bin/env python3
"""Pre-signs distinct officer submissions (SPEC 4.9.1) for the serve benchmark, independently of custody:
Ed25519 from `cryptography`, canonical JSON from the standard library (ASCII members, integers only).

usage: presign.py ORIGIN OUT_PREFIX FILES COUNT KEYS_DIR NAME...
writes OUT_PREFIX-0.txt .. OUT_PREFIX-(FILES-1).txt, COUNT bodies in all, one `POST /add` body a line; officer
NAME_i signs the bodies of file i modulo the names given."""
import base64, datetime, json, os, sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key, Encoding, PublicFormat
import hashlib

origin, prefix, files, count, keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
names = sys.argv[6:]

def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

officers = []
for name in names:
    key = load_pem_private_key(open(os.path.join(keys, name + ".key"), "rb").read(), password=None)
    identity = json.load(open(os.path.join(keys, name + ".identity.json")))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    officers.append((key, {"agency": identity["agency"], "jurisdiction": identity["jurisdiction"],
                           "keyId": identity["keyId"], "name": name,
                           "publicKey": base64.b64encode(public).decode()}))

now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
outs = [open("%s-%d.txt" % (prefix, i), "w") for i in range(files)]
for n in range(count):
    key, officer = officers[(n % files) % len(officers)]
    submission = {"action": "examine", "details": {"case": "BENCH-%d" % (n % 100)}, "legalBasis": "",
                  "log": origin, "nonce": os.urandom(16).hex(), "officer": officer,
                  "subjects": [{"id": "item-%d" % n}], "time": now}
    signature = key.sign(b"custody log submission v1\n" + canonical(submission))
    outs[n % files].write(canonical({"sig": base64.b64encode(signature).decode(), "submission": submission}).decode() + "\n")
for out in outs:
    out.close()
