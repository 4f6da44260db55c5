#!/usr/bin/env bash
# Builds tcpserve as one fully static executable (glibc linked in, no shared library needed at
# run time), then proves that build serves a file: it starts it on a free loopback port and
# fetches a file over HTTP and over the raw protocol, byte for byte.
#
#   contrib/static-build.sh [TARGET-DIR]      # default target/static; prints the binary's path
#
# The build command is the one README gives. Needs curl.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${1:-target/static}
# glibc warns at link time that getaddrinfo, getpwnam and getgrnam need its shared NSS
# libraries at run time to look names up (README: Deploying says what that costs).
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --target-dir "$target_dir"
bin="$target_dir/x86_64-unknown-linux-gnu/release/tcpserve"
[ -x "$bin" ] || { echo "static build: no binary at $bin" >&2; exit 1; }
if ldd "$bin" 2>&1 | grep -q "=>"; then
    echo "static build: $bin links shared libraries:" >&2
    ldd "$bin" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
head -c 100000 /dev/urandom >"$work/file.bin"
"$bin" serve --files 127.0.0.1:0 --root "$work" --log "$work/log" --access-log off &
pid=$!
addr=
for _ in $(seq 200); do
    addr=$(sed -n 's/.*files listening on \([^,]*\),.*/\1/p' "$work/log" 2>/dev/null | head -1)
    [ -n "$addr" ] && break
    sleep 0.05
done
[ -n "$addr" ] || { echo "static build: the server did not start" >&2; cat "$work/log" >&2; exit 1; }
curl -sf "http://$addr/file.bin" -o "$work/got-http"
cmp "$work/file.bin" "$work/got-http"
"$bin" get "$addr" file.bin -o "$work/got-raw" 2>/dev/null
cmp "$work/file.bin" "$work/got-raw"
echo "static build: $bin ($(stat -c %s "$bin") bytes) serves a file over HTTP and the raw protocol"
