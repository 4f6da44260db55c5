#!/usr/bin/env bash
# Ten minutes (or SECONDS) of mixed load against one tcpserve of MODEL, then a check that its
# descriptors and memory came back and every completed download was whole (soak.py says how).
#
#   docs/bench/soak.sh target/release/tcpserve reactor [SECONDS]
set -euo pipefail
bin=$1 model=$2 seconds=${3:-600}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
# The run's own status, whatever the clean-up's last command returns.
trap 'status=$?; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"; exit $status' EXIT
mkdir "$work/root"
head -c 100 /dev/urandom >"$work/root/small.bin"
head -c 70000 /dev/urandom >"$work/root/medium.bin"
head -c 5000000 /dev/urandom >"$work/root/large.bin"
ulimit -n 4096
# --max-conns 200: the flood goes over it; --request-timeout 2: slow heads end soon.
"$bin" serve --model "$model" --echo 127.0.0.1:0 --files 127.0.0.1:0 --root "$work/root" \
    --max-conns 200 --request-timeout 2 --idle-timeout 10 --access-log off 2>"$work/log" &
pid=$!
for _ in $(seq 200); do
    grep -q "files listening" "$work/log" 2>/dev/null && break
    sleep 0.05
done
echo_addr=$(sed -n 's/.*echo listening on \(.*\)$/\1/p' "$work/log" | head -1)
files_addr=$(sed -n 's/.*files listening on \([^,]*\),.*/\1/p' "$work/log" | head -1)
echo "$model: pid $pid, echo $echo_addr, files $files_addr, $seconds s"
python3 "$here/soak.py" --pid "$pid" --echo "$echo_addr" --files "$files_addr" \
    --root "$work/root" --seconds "$seconds" --model "$model"
