#!/usr/bin/env bash
# Two builds of tcpserve, BASE and NEW, measured interleaved (base, new, base, new...) with the
# reactor model: echo (64-byte messages, 1,000 connections), HTTP (4 KiB GETs, keep-alive,
# wrk -c50), and memory per idle connection (10,000). Each server's own CPU per operation comes
# from /proc/PID/stat over the measured window, its system calls from
# `perf stat -e raw_syscalls:sys_enter -p PID` in a second run (so perf's cost is not counted).
#
#   docs/bench/builds-compare.sh BASE/tcpserve NEW/tcpserve    # about 15 minutes
#
# Needs wrk, curl, perf and python3. One TSV line per run on stdout and in $OUT; logs in $LOGDIR.
# ROUNDS (default 3) and WHAT (default "echo http idle") choose what runs.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BASE-BINARY NEW-BINARY" >&2; exit 2; }
ulimit -n 20000
BASE=$1
NEW=$2
CLIENT=${CLIENT:-$NEW}  # the same load generator for both servers
WORK=$(mktemp -d)
OUT=${OUT:-$WORK/results.tsv}
LOGDIR=${LOGDIR:-$WORK/logs}
ROOT=$WORK/www
mkdir -p "$LOGDIR" "$ROOT"
[[ -f $ROOT/4k.bin ]] || head -c 4096 /dev/urandom >"$ROOT/4k.bin"
HZ=$(getconf CLK_TCK)
ROUNDS=${ROUNDS:-3}
WHAT=${WHAT:-echo http idle}

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ticks() { local l; read -r l <"/proc/$1/stat"; l=${l##*) }; local -a f; read -ra f <<<"$l"; echo $((f[11] + f[12])); }
waitport() { local i; for i in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

echo_run() { # build-name binary round
    local name=$1 bin=$2 r=$3 port pid t0 c0 t1 c1 out rate sc
    port=$(freeport)
    "$bin" serve --model reactor --echo "127.0.0.1:$port" -q --access-log off 2>"$LOGDIR/echo-$name-$r.err" &
    pid=$!
    waitport "$port" || { echo "echo $name $r: server did not start" >&2; return; }
    # Run A: CPU over [1.2 s, 5.9 s] of the run (measured window is [~1.0, ~6.0]), no perf attached.
    "$CLIENT" bench echo "127.0.0.1:$port" --conns 1000 --size 64 --duration 5 --warmup 1 >"$LOGDIR/echo-$name-$r-a.txt" 2>&1 &
    local bp=$!
    sleep 1.2; t0=$EPOCHREALTIME; c0=$(ticks "$pid")
    sleep 4.7; t1=$EPOCHREALTIME; c1=$(ticks "$pid")
    wait $bp
    rate=$(awk '/round trips\/s/ {gsub(",","",$3); print $3}' "$LOGDIR/echo-$name-$r-a.txt")
    # Run B: same server, perf counting system calls over [1.5 s, 5.5 s] of the run.
    "$CLIENT" bench echo "127.0.0.1:$port" --conns 1000 --size 64 --duration 5 --warmup 1 >"$LOGDIR/echo-$name-$r-b.txt" 2>&1 &
    bp=$!
    sleep 1.5
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$LOGDIR/echo-$name-$r-perf.txt" -- sleep 4 2>/dev/null
    wait $bp
    local rateb; rateb=$(awk '/round trips\/s/ {gsub(",","",$3); print $3}' "$LOGDIR/echo-$name-$r-b.txt")
    sc=$(awk -F, '/raw_syscalls/ {print $1}' "$LOGDIR/echo-$name-$r-perf.txt")
    stop "$pid"
    awk -v n="$name" -v r="$r" -v hz="$HZ" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" -v rate="$rate" -v rateb="$rateb" -v sc="$sc" 'BEGIN {
        dt = t1 - t0; cpu_us = c / hz * 1e6 / (rate * dt)
        printf "echo\t%s\t%d\trt_per_s=%.0f\tcpu_us_per_rt=%.3f\tserver_cores=%.3f\tsyscalls_per_rt=%.3f\trt_per_s_perfrun=%.0f\n", n, r, rate, cpu_us, c / hz / dt, sc / (rateb * 4), rateb
    }' | tee -a "$OUT"
}

http_run() {
    local name=$1 bin=$2 r=$3 port pid c0 c1 reqs dur sc reqsb durb
    port=$(freeport)
    "$bin" serve --model reactor --files "127.0.0.1:$port" --root "$ROOT" -q --access-log off 2>"$LOGDIR/http-$name-$r.err" &
    pid=$!
    waitport "$port" || { echo "http $name $r: server did not start" >&2; return; }
    curl -sf "http://127.0.0.1:$port/4k.bin" | cmp -s - "$ROOT/4k.bin" || echo "http $name $r: WRONG BYTES" >&2
    wrk -t1 -c50 -d2s "http://127.0.0.1:$port/4k.bin" >"$LOGDIR/http-$name-$r-warm.txt" 2>&1
    c0=$(ticks "$pid")
    wrk -t1 -c50 -d5s "http://127.0.0.1:$port/4k.bin" >"$LOGDIR/http-$name-$r.txt" 2>&1
    c1=$(ticks "$pid")
    # A second run with perf attached, for system calls per request (its CPU is not used).
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$LOGDIR/http-$name-$r-perf.txt" -- \
        wrk -t1 -c50 -d3s "http://127.0.0.1:$port/4k.bin" >"$LOGDIR/http-$name-$r-b.txt" 2>&1
    stop "$pid"
    reqs=$(awk '/requests in/ {print $1}' "$LOGDIR/http-$name-$r.txt")
    dur=$(awk '/requests in/ {d=$4; sub(/s,$/,"",d); print d}' "$LOGDIR/http-$name-$r.txt")
    reqsb=$(awk '/requests in/ {print $1}' "$LOGDIR/http-$name-$r-b.txt")
    sc=$(awk -F, '/raw_syscalls/ {print $1}' "$LOGDIR/http-$name-$r-perf.txt")
    grep -q 'Non-2xx\|Socket errors' "$LOGDIR/http-$name-$r.txt" && echo "http $name $r: errors, see log" >&2
    awk -v n="$name" -v r="$r" -v hz="$HZ" -v c="$((c1 - c0))" -v reqs="$reqs" -v dur="$dur" -v sc="$sc" -v reqsb="$reqsb" 'BEGIN {
        printf "http\t%s\t%d\treq_per_s=%.0f\tcpu_us_per_req=%.3f\tserver_cores=%.3f\tsyscalls_per_req=%.3f\n", n, r, reqs / dur, c / hz * 1e6 / reqs, c / hz / dur, sc / reqsb
    }' | tee -a "$OUT"
}

idle_run() {
    local name=$1 bin=$2 r=$3 port pid bytes
    port=$(freeport)
    "$bin" serve --model reactor --echo "127.0.0.1:$port" -q --access-log off 2>"$LOGDIR/idle-$name-$r.err" &
    pid=$!
    waitport "$port" || { echo "idle $name $r: server did not start" >&2; return; }
    "$CLIENT" bench idle "127.0.0.1:$port" --conns 10000 --pid "$pid" >"$LOGDIR/idle-$name-$r.txt" 2>&1
    stop "$pid"
    bytes=$(awk '/server memory/ {gsub(",","",$3); print $3}' "$LOGDIR/idle-$name-$r.txt")
    printf 'idle\t%s\t%d\tbytes_per_conn=%s\t%s\n' "$name" "$r" "$bytes" "$(grep 'server memory' "$LOGDIR/idle-$name-$r.txt" | sed 's/^ *//')" | tee -a "$OUT"
}

for what in $WHAT; do
    for r in $(seq "$ROUNDS"); do
        "${what}_run" base "$BASE" "$r"
        "${what}_run" new "$NEW" "$r"
    done
done
