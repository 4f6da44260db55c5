#!/usr/bin/env bash
# listing-time.sh: how long one directory listing (--listing) holds the server, for N entries:
# curl's time to first byte over loopback, the median of RUNS requests, the page built whole
# before its first byte leaves. The directory holds N empty files named file-00001... in a
# temporary directory, served by one tcpserve (the reactor model) on a free loopback port.
#
#   docs/bench/listing-time.sh [BINARY] [ENTRIES...]     # default target/release/tcpserve 10000 16384
#
# RUNS (default 25) sets the requests per size. Needs curl and python3 (a free port).
set -euo pipefail

BIN=${1:-target/release/tcpserve}
shift || true
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(10000 16384)
RUNS=${RUNS:-25}
[[ -x $BIN ]] || { echo "no binary at $BIN (cargo build --release)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/listing-time.XXXXXX")
PID=""
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for n in "${SIZES[@]}"; do
    mkdir -p "$TMP/www/d$n"
    (cd "$TMP/www/d$n" && seq -f 'file-%05g' 1 "$n" | xargs touch)
done
"$BIN" serve --files "127.0.0.1:$PORT" --root "$TMP/www" --listing -q &
PID=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.05   # waiting for the server to listen, bounded: 100 tries
done

echo "entries	median_ms	min_ms	max_ms	bytes"
for n in "${SIZES[@]}"; do
    url="http://127.0.0.1:$PORT/d$n/"
    bytes=$(curl -s "$url" | wc -c)
    for _ in $(seq "$RUNS"); do
        curl -s -o /dev/null -w '%{time_starttransfer}\n' "$url"
    done | sort -n | awk -v n="$n" -v b="$bytes" '
        { t[NR] = $1 * 1000 }
        END { printf "%d\t%.1f\t%.1f\t%.1f\t%d\n", n, t[int((NR + 1) / 2)], t[1], t[NR], b }'
done
