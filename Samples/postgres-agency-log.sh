#!/usr/bin/env bash
# Starts a local agency log on PostgreSQL in one command (README "A shared agency log on PostgreSQL"):
#
#   Samples/postgres-agency-log.sh DIR ORIGIN KEY
#   e.g. Samples/postgres-agency-log.sh pg police.example/custody keys/alice.key
#
# makes a PostgreSQL cluster in DIR (initdb; as the postgres user when run as root, since initdb refuses root),
# starts it listening on its Unix socket in DIR only (trust authentication: whoever may enter DIR), creates the database `custody` and runs
# `custody ledger init` there, then prints the ledger's URL. Run again on the same DIR, it only starts the cluster
# (if stopped) and prints the URL. Stop it with: pg_ctl -D DIR/data stop (as the same user).
# Needs PostgreSQL's server programs (Debian: apt-get install postgresql) and custody on PATH (or CUSTODY=path).
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 DIR ORIGIN KEY" >&2
    exit 2
fi
dir=$1 origin=$2 key=$3
custody=${CUSTODY:-custody}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_bin" ] && command -v initdb >/dev/null; then pg_bin=$(dirname "$(command -v initdb)"); fi
if [ -z "$pg_bin" ]; then
    echo "$0: PostgreSQL's server programs (initdb, pg_ctl) not found: install postgresql" >&2
    exit 2
fi
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$dir"
chmod 0700 "$dir"
dir=$(cd "$dir" && pwd)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
url="postgres://$( [ "$(id -u)" = 0 ] && echo postgres || id -un )@/custody?host=$dir"

if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$pg_bin/initdb" -D "$dir/data" -A trust -U "$( [ "$(id -u)" = 0 ] && echo postgres || id -un )" \
        >/dev/null
    created=1
fi
if ! as_owner "$pg_bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses='' -k $dir" start >/dev/null
fi
if [ "${created:-0}" = 1 ]; then
    as_owner "$pg_bin/createdb" -h "$dir" custody
    "$custody" ledger init "$url" --origin "$origin" --key "$key" >&2
fi
echo "$url"
