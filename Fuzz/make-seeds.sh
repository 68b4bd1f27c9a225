#!/usr/bin/env bash
# Rebuilds the checked-in seed corpora (Corpus/TARGET/) from the test fixtures and the age test kit, with the
# peers for the formats custody reads from others (tar, hashdeep, sha256sum, md5sum). Small on purpose: libFuzzer
# grows the working corpus in .work/, which is not checked in.
set -euo pipefail
cd "$(dirname "$0")"
fixture=../Tests/Fixtures/legacy-2026-11
testkit=../Tests/Vectors/age-testkit
rm -rf Corpus
mkdir -p Corpus
seed() { # seed TARGET NAME < bytes
    mkdir -p "Corpus/$1"
    cat > "Corpus/$1/$2"
}
from() { # from TARGET FILE...
    local target=$1; shift
    for file in "$@"; do seed "$target" "$(basename "$file")" < "$file"; done
}

# Packed evidence: the fixture's two packed items, their member headers, and a truncated and an empty stream.
from unpack-strict "$fixture"/bundle/data/*.gz
from unpack-salvage "$fixture"/bundle/data/*.gz
head -c 2000 "$fixture/bundle/data/0002-disk-8k.img.gz" | seed unpack-salvage truncated.gz
for gz in "$fixture"/bundle/data/*.gz; do
    head -c 32 "$gz" | seed gzip-member-header "$(basename "$gz").first"
    tail -c 40 "$gz" | head -c 32 | seed gzip-member-header "$(basename "$gz").end-of-file"
done

# BagIt tag files.
from bagit-declaration "$fixture/bundle/bagit.txt"
from bag-info "$fixture/bundle/bag-info.txt"
from bagit-manifest "$fixture"/bundle/manifest-sha256.txt
from bagit-tagmanifest "$fixture"/bundle/tagmanifest-sha512.txt
printf 'Source-Organization: Example\nExternal-Description: a long value\n  continued here\nPayload-Oxum: 12.2\n' \
    | seed bag-info continuation.txt

# JSON documents, ledger entries and batch lines.
from items-json "$fixture/bundle/custody/items.json"
from conditions-json "$fixture/bundle/custody/conditions.json"
from canonical-json "$fixture/bundle/custody/items.json" "$fixture/bundle/custody/proofs.json" \
    "$fixture/bundle/custody/identities.json" "$fixture/de-trust.json"
printf '[1,-2,0,1e3,"\\u00e9\\ud83d\\ude00",true,false,null,{"b":{},"a":[]}]' | seed canonical-json scalars.json
line=0
while IFS= read -r entry; do
    line=$((line + 1))
    printf '%s' "$entry" | seed ledger-entry "excerpt-$line.json"
done < "$fixture/bundle/custody/ledger-excerpt.jsonl"
printf '%s' '{"action":"note","subjects":["urn:uuid:e969746a-446c-4aa2-b63e-ff885e9559f8"],"legalBasis":"art. 1","details":{"text":"x"}}' \
    | seed ledger-batch-line note.json
printf '%s' '{"action":"access","subjects":[{"id":"item-1","role":"item"}]}' | seed ledger-batch-line access.json
{
    echo '{"action":"preserve","subjects":["PO-1","acct-7"],"legalBasis":"CCP 60-1","details":{"order":"PO-1","authority":"Court","data":"mail","issued":"2026-01-10","expires":"2026-04-10","days":90,"policyMaxDays":90}}'
    echo '{"action":"preserve-renew","subjects":["PO-1"],"legalBasis":"CCP 60-1","details":{"order":"PO-1","renewed":"2026-04-01","expires":"2026-07-01"}}'
    echo '{"action":"preserve-release","subjects":["PO-1"],"legalBasis":"CCP 60-1","details":{"order":"PO-1","released":"2026-05-01","reason":"closed"}}'
} | seed preservation-orders order-renew-release.jsonl
from merkle-proofs ../Tests/Vectors/merkle/inclusion/0/happy-path.json ../Tests/Vectors/merkle/inclusion/1/*.json \
    ../Tests/Vectors/merkle/consistency/0/happy-path.json
from identity "$fixture"/keys/*.identity.json

# Signed notes (signed by the fixture's keys; the note mutator signs its mutations with the fixed test key).
from signed-note "$fixture/bundle/custody/checkpoint.txt" "$fixture/bundle/custody/seal.txt" \
    "$fixture/to-de.age.note" "$fixture/received.receipt"
from checkpoint "$fixture/bundle/custody/checkpoint.txt"
from transfer-statement "$fixture/to-de.age.note"
from receipt "$fixture/received.receipt"
{
    echo 'custody consent v1'
    echo 'consent urn:uuid:0b0c6a5e-6c1e-4a51-9d47-2f1c3a6a8b10'
    echo 'bundle urn:uuid:e969746a-446c-4aa2-b63e-ff885e9559f8'
    echo 'to-jurisdiction NL'
    echo 'to-agency Politie'
    echo 'purpose prosecution'
    echo 'expires 2027-01-31'
    grep '^sender ' "$fixture/to-de.age.note" | sed 's/^sender/granted-by/'
    echo 'granted-by-agency Police judiciaire'
    echo 'granted-by-jurisdiction FR'
    echo 'time 2026-12-07T17:09:19Z'
    echo
    echo '— fuzz AAAAAAAA'
} | seed consent consent.txt

# age: the test kit's files that decrypt with its X25519 identity (the preamble stripped), and the fixture keys.
for vector in "$testkit"/x25519*; do
    name=$(basename "$vector")
    grep -q "^identity: AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0" "$vector" || continue
    sed '1,/^$/d' "$vector" | seed age-file "$name"
    sed '1,/^$/d' "$vector" | seed age-header "$name"
done
for vector in "$testkit"/stanza_* "$testkit"/header_crlf "$testkit"/scrypt; do
    [ -f "$vector" ] && sed '1,/^$/d' "$vector" | seed age-header "$(basename "$vector")"
done
from bech32 "$fixture"/keys/*.recipient
grep -h '^AGE-SECRET' "$fixture/keys/de.age" | tr -d '\n' | seed bech32 de-identity
printf 'AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0' | seed bech32 testkit-identity
from age-key-files "$fixture/keys/de.age" "$fixture/keys/fr.recipient"

# tar archives from GNU tar (ustar, pax with a long name, a directory), and hash lists from the peers.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/in/dir/$(printf 'long%.0s' {1..30})"
printf 'hello\n' > "$scratch/in/dir/a.txt"
printf 'evidence\n' > "$scratch/in/dir/$(printf 'long%.0s' {1..30})/b.txt"
(cd "$scratch/in" && tar --format=ustar -cf "$scratch/ustar.tar" dir/a.txt)
(cd "$scratch/in" && tar --format=pax -cf "$scratch/pax.tar" dir)
from tar-extract "$scratch/ustar.tar" "$scratch/pax.tar"
(cd "$fixture/inputs" && sha256sum -- *) | seed hash-list sha256sum.txt
(cd "$fixture/inputs" && sha256sum --tag -- *) | seed hash-list sha256sum-tag.txt
(cd "$fixture/inputs" && md5sum -- *) | seed hash-list md5sum.txt
(cd "$fixture/inputs" && hashdeep -c md5,sha256 -- *) | seed hash-list hashdeep.txt
printf '%s\n' '\e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a\\nb' | seed hash-list escaped.txt
du -sh Corpus
