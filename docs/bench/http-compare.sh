#!/usr/bin/env bash
# http-compare.sh: tcpserve's HTTP/1.1 file serving against lighttpd and nginx, side by side,
# with wrk as the load (issue 7), and with each server writing an access log (issue 11).
#
# One run, on this machine: the same two files (4k.bin, 4,096 bytes; 1m.bin, 1 MiB; random
# data) served by each server from one temporary root, each server on its own free loopback
# port with a minimal configuration generated here (one process or worker, sendfile on,
# keep-alive on, no access log unless --access-log). For each file size every server gets a
# warm-up and then a measured `wrk --latency` run, servers interleaved (all servers on 4k.bin,
# then all on 1m.bin) so that drift on a busy machine hits them alike. Around each measured run the
# server's CPU time (user + system, from /proc/PID/stat, every process of that server) is read,
# so each row reports CPU per request beside requests/s: the load generator shares the two
# cores with the server, and a server that takes less CPU leaves more to the generator.
#
# With --access-log every server writes one access line per request to a file in the temporary
# directory (tcpserve --access-log FILE, common format; lighttpd mod_accesslog, its default
# format; nginx access_log FILE combined buffer=64k), and a second tcpserve row,
# tcpserve-nolog (--access-log off, otherwise the same), runs in the same interleaved sequence:
# what the log costs tcpserve is then the ratio of two rows of one run, not of two runs on a
# machine whose speed drifts. The lines each log gained are counted after every measured run
# and, after the servers stop (when every buffer is written), over the whole run, against the
# requests wrk completed: logging that silently did not happen, or dropped lines, shows there.
#
# Results: $OUT/http.md (tables, versions, settings), $OUT/http.csv (every figure and the
# ratios), $OUT/raw/ (wrk's own output, the health checks), $OUT/configs/ (what each server
# ran with). A server that does not answer 200 with the right bytes, or any wrk run with a
# non-2xx/3xx response or a socket error, is reported as such and gets no figures; the script
# then exits 1 (after writing the reports).
#
# Needs: bash 5, wrk, python3 (free ports, the health check), awk, coreutils' timeout, and the
# servers selected (Debian: apt-get install wrk lighttpd nginx).
#
# Example (from the repository root, after `cargo build --release`):
#   docs/bench/http-compare.sh --out /tmp/http-bench
#   docs/bench/http-compare.sh --servers lighttpd,nginx --duration 3 --warmup 1 --out /tmp/v
#   docs/bench/http-compare.sh --access-log --files 4k.bin --rounds 3 --out /tmp/access-bench

set -euo pipefail

usage() {
    cat <<'EOF'
usage: docs/bench/http-compare.sh [options]

  --tcpserve PATH     the tcpserve binary (default target/release/tcpserve)
  --out DIR           where the reports go (default bench-http-out)
  --warmup SECS       unmeasured wrk run before each measured one, 0 for none (default 2)
  --duration SECS     each measured wrk run (default 10)
  --conns N           wrk connections (default 50)
  --threads N         wrk threads (default 1: the machine has 2 cores and the server under
                      test needs one of them; a second generator thread would compete with it)
  --servers LIST      comma-separated, from tcpserve,tcpserve-nolog,lighttpd,nginx (default
                      tcpserve,lighttpd,nginx, plus tcpserve-nolog with --access-log; or the
                      environment's SERVERS). tcpserve-nolog is tcpserve with --access-log off,
                      the baseline for what tcpserve's access log costs
  --files LIST        comma-separated, from 4k.bin,1m.bin (default both)
  --rounds N          repeat the whole interleaved sequence N times (default 1)
  --access-log        every server writes an access line per request to a file in the
                      temporary directory: tcpserve --access-log FILE (common format; its
                      diagnostics stay at the default level, in a file: -q would silence the
                      access lines too), lighttpd mod_accesslog (its default format), nginx
                      access_log FILE combined buffer=64k. The lines are counted against wrk's
                      requests. Without it no server logs requests (tcpserve runs with -q)
  --tcpserve-args S   more words for `tcpserve serve`, e.g. "--model threads"
  -h, --help          this text

Environment: SERVERS (as --servers), WRK, LIGHTTPD, NGINX, PYTHON (the programs to run).
Exit status: 0 when every server answered and every run was clean, 1 otherwise, 2 for a bad
command line.
EOF
}

die() {
    printf 'http-compare: %s\n' "$*" >&2
    exit 1
}

bad_usage() {
    printf 'http-compare: %s\n\n' "$*" >&2
    usage >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------
# Command line.

TCPSERVE=target/release/tcpserve
OUT=bench-http-out
WARMUP=2
DURATION=10
CONNS=50
# One wrk thread by default: with 2 cores shared by generator and server, two generator
# threads would take the core the server under test needs, and the figures would measure the
# scheduler more than the server.
THREADS=1
# Empty until given: the default depends on --access-log, which may come after it.
SERVER_LIST=${SERVERS:-}
FILE_LIST=4k.bin,1m.bin
ROUNDS=1
TCPSERVE_ARGS=""
ACCESS_LOG=0
COMMAND_LINE="$0 $*"

while (($#)); do
    case $1 in
    --tcpserve | --out | --warmup | --duration | --conns | --threads | --servers | --files | --rounds | --tcpserve-args)
        (($# >= 2)) || bad_usage "$1 needs a value"
        case $1 in
        --tcpserve) TCPSERVE=$2 ;;
        --out) OUT=$2 ;;
        --warmup) WARMUP=$2 ;;
        --duration) DURATION=$2 ;;
        --conns) CONNS=$2 ;;
        --threads) THREADS=$2 ;;
        --servers) SERVER_LIST=$2 ;;
        --files) FILE_LIST=$2 ;;
        --rounds) ROUNDS=$2 ;;
        --tcpserve-args) TCPSERVE_ARGS=$2 ;;
        esac
        shift 2
        ;;
    --access-log)
        ACCESS_LOG=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) bad_usage "unknown argument: $1" ;;
    esac
done

for pair in "warmup:$WARMUP" "duration:$DURATION" "conns:$CONNS" "threads:$THREADS" "rounds:$ROUNDS"; do
    [[ ${pair#*:} =~ ^[0-9]+$ ]] || bad_usage "--${pair%%:*} wants a whole number, not '${pair#*:}'"
done
((DURATION >= 1)) || bad_usage "--duration must be at least 1"
((THREADS >= 1 && ROUNDS >= 1)) || bad_usage "--threads and --rounds must be at least 1"
((CONNS >= THREADS)) || bad_usage "wrk needs at least as many connections as threads"

# The selected servers, always in this order in the tables. With --access-log the default
# adds tcpserve-nolog, so that the log's cost to tcpserve comes from the same run.
if [[ -z $SERVER_LIST ]]; then
    SERVER_LIST=tcpserve,lighttpd,nginx
    if ((ACCESS_LOG)); then SERVER_LIST=tcpserve,tcpserve-nolog,lighttpd,nginx; fi
fi
KNOWN=(tcpserve tcpserve-nolog lighttpd nginx)
SELECTED=()
IFS=, read -ra wanted <<<"$SERVER_LIST"
for w in "${wanted[@]}"; do
    [[ " ${KNOWN[*]} " == *" $w "* ]] || bad_usage "unknown server '$w' (known: ${KNOWN[*]})"
done
for s in "${KNOWN[@]}"; do
    if [[ ",$SERVER_LIST," == *",$s,"* ]]; then SELECTED+=("$s"); fi
done
((${#SELECTED[@]})) || bad_usage "no server selected"

# The selected files, in this order.
KNOWN_FILES=(4k.bin 1m.bin)
declare -A FILE_BYTES=([4k.bin]=4096 [1m.bin]=1048576)
FILES=()
IFS=, read -ra wanted <<<"$FILE_LIST"
for w in "${wanted[@]}"; do
    [[ " ${KNOWN_FILES[*]} " == *" $w "* ]] || bad_usage "unknown file '$w' (known: ${KNOWN_FILES[*]})"
done
for f in "${KNOWN_FILES[@]}"; do
    if [[ ",$FILE_LIST," == *",$f,"* ]]; then FILES+=("$f"); fi
done
((${#FILES[@]})) || bad_usage "no file selected"

read -ra TCPSERVE_EXTRA <<<"$TCPSERVE_ARGS"

# ---------------------------------------------------------------------------------------------
# Programs.

WRK=${WRK:-$(command -v wrk || true)}
PYTHON=${PYTHON:-$(command -v python3 || true)}
LIGHTTPD=${LIGHTTPD:-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -n $WRK && -x $WRK ]] || die "wrk not found (Debian: apt-get install wrk)"
[[ -n $PYTHON && -x $PYTHON ]] || die "python3 not found"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
for s in "${SELECTED[@]}"; do
    case $s in
    tcpserve | tcpserve-nolog) [[ -x $TCPSERVE ]] || die "no tcpserve binary at $TCPSERVE (cargo build --release, or --tcpserve PATH)" ;;
    lighttpd) [[ -x $LIGHTTPD ]] || die "lighttpd not found (Debian: apt-get install lighttpd)" ;;
    nginx) [[ -x $NGINX ]] || die "nginx not found (Debian: apt-get install nginx)" ;;
    esac
done
HZ=$(getconf CLK_TCK) # the unit of utime and stime in /proc/PID/stat

# ---------------------------------------------------------------------------------------------
# Cleanup: every server we started is stopped (TERM, then KILL after 5 s, its children too),
# and the temporary root removed, however the script ends.

declare -A PID=() PORT=() FAILED=() KEEPALIVE=()
TMP=""

# alive PID: the process exists and is not a zombie (our servers are our children, so a dead
# one stays a zombie until reaped, and `kill -0` would still succeed).
alive() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    [[ ${line:0:1} != Z ]]
}

# tree_pids PID: sets TREE to PID and every descendant (nginx: master and worker). Builtins
# only, so sampling forks nothing.
tree_pids() {
    TREE=()
    local queue=("$1") p t kids
    local -a more
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        TREE+=("$p")
        for t in /proc/"$p"/task/*/children; do
            [[ -r $t ]] || continue
            kids=""
            read -r kids 2>/dev/null <"$t" || true
            read -ra more <<<"$kids"
            queue+=("${more[@]}")
        done
    done
}

stop_server() {
    local name=$1 pid=${PID[$1]} p deadline
    tree_pids "$pid"
    local -a all=("${TREE[@]}")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        local left=0
        for p in "${all[@]}"; do alive "$p" && left=1; done
        ((left)) || break
        sleep 0.05
    done
    for p in "${all[@]}"; do
        if alive "$p"; then
            printf 'http-compare: %s (pid %s) ignored TERM for 5 s; killing it\n' "$name" "$p" >&2
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}

cleanup() {
    set +e
    local name
    for name in "${!PID[@]}"; do stop_server "$name"; done
    [[ -n $TMP && -d $TMP ]] && rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# The temporary root, the files, and the helpers.

TMP=$(mktemp -d "${TMPDIR:-/tmp}/http-compare.XXXXXX")
# Readable by all: nginx's worker runs as nobody when the script runs as root.
chmod 755 "$TMP"
WWW=$TMP/www
mkdir -p "$WWW" "$TMP/nginx" "$OUT/raw" "$OUT/configs"
# Both files always: the health check fetches both over one connection (which also shows
# whether the server keeps it alive), whichever --files are measured.
for f in "${KNOWN_FILES[@]}"; do
    head -c "${FILE_BYTES[$f]}" /dev/urandom >"$WWW/$f"
done
chmod 755 "$WWW"
chmod 644 "$WWW"/*

# --access-log: each logging server's file, in the temporary directory (a run writes hundreds
# of megabytes of lines; they go with it). Empty for a server that logs no requests.
declare -A ACCESS_FILE=()
if ((ACCESS_LOG)); then
    mkdir -p "$TMP/logs"
    for s in "${SELECTED[@]}"; do
        [[ $s == tcpserve-nolog ]] || ACCESS_FILE[$s]=$TMP/logs/$s-access.log
    done
fi

# wrk's own totals, exactly: its human summary rounds bytes ("1.23GB read") and requests/s.
# Only done() is defined, so wrk keeps its fast path (a fixed request, no Lua per response).
LUA=$TMP/report.lua
cat >"$LUA" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "HTTPCOMPARE requests=%.0f bytes=%.0f duration_us=%.0f connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f p50_us=%.0f p99_us=%.0f\n",
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
EOF

# Health check: both files by GET over one connection, status 200 and exactly the file's
# bytes; says whether the connection was kept alive between the two.
CHECK=$TMP/check.py
cat >"$CHECK" <<'EOF'
import http.client, os, sys
port, root, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
kept = True
for i, name in enumerate(names):
    with open(os.path.join(root, name), "rb") as f:
        want = f.read()
    try:
        conn.request("GET", "/" + name)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as e:
        sys.exit(f"GET /{name}: {type(e).__name__}: {e}")
    if resp.status != 200:
        sys.exit(f"GET /{name}: HTTP {resp.status} {resp.reason}")
    if body != want:
        sys.exit(f"GET /{name}: {len(body)} bytes, not the file's {len(want)}")
    if resp.will_close and i + 1 < len(names):
        kept = False
print("keep-alive" if kept else "no keep-alive (closed after a response)")
EOF

# Free loopback ports, all held at once so they differ (a small race remains until each
# server binds; a server that cannot bind is reported as failing to start).
mapfile -t ports < <("$PYTHON" - "${#SELECTED[@]}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
)
((${#ports[@]} == ${#SELECTED[@]})) || die "could not pick free ports with $PYTHON"
i=0
for s in "${SELECTED[@]}"; do
    PORT[$s]=${ports[i]}
    i=$((i + 1))
done

# Enough connection slots for --conns with room to spare.
SLOTS=$((CONNS + 128 > 1024 ? CONNS + 128 : 1024))

# ---------------------------------------------------------------------------------------------
# Server configurations.

write_lighttpd_conf() {
    local what="no access log" modules="# No server.modules: only the built-in static-file handler; mod_accesslog is not loaded,
# so there is no access log."
    if [[ -n ${ACCESS_FILE[lighttpd]:-} ]]; then
        what="an access log to a file"
        # The module's default format (common plus the Host, Referer and User-Agent). It
        # holds lines in a buffer and writes about 8 KiB at a time (strace, 1.4.69), as nginx
        # with buffer= and tcpserve's writer thread (up to 64 KiB) also write in batches.
        modules="server.modules = ( \"mod_accesslog\" )
accesslog.filename = \"${ACCESS_FILE[lighttpd]}\""
    fi
    cat >"$TMP/lighttpd.conf" <<EOF
# lighttpd for http-compare.sh: one process, sendfile, keep-alive, $what.
server.document-root   = "$WWW"
server.bind            = "127.0.0.1"
server.port            = ${PORT[lighttpd]}
server.errorlog        = "$TMP/lighttpd-error.log"
server.upload-dirs     = ( "$TMP" )
# The default: no forked workers, the one process serves every connection.
server.max-worker      = 0
server.event-handler   = "linux-sysepoll"
# The Linux default, named here ("linux-sendfile" is an alias). lighttpd 1.4.69 still reads a
# response body under 16 KiB into memory and sends it with the head in one write.
server.network-backend = "sendfile"
# An unsigned short in lighttpd: 65535 is the most (a larger number wraps around silently).
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle     = 60
server.max-connections = $SLOTS
server.max-fds         = $((SLOTS * 2 + 64))
$modules
mimetype.assign = ( ".bin" => "application/octet-stream" )
EOF
}

write_nginx_conf() {
    local user_line=""
    # As root, the master runs the worker as an unprivileged user; nginx's built-in default
    # group (nobody) does not exist on Debian, so name one that does.
    if ((EUID == 0)); then user_line="user nobody $(id -gn nobody);"; fi
    # The master opens the log (as root, when run as root) and the worker inherits it; 64 KiB
    # of buffer, as tcpserve's writer writes up to 64 KiB at a time.
    local what="no access log" access_line="access_log off;"
    if [[ -n ${ACCESS_FILE[nginx]:-} ]]; then
        what="an access log to a file"
        access_line="access_log ${ACCESS_FILE[nginx]} combined buffer=64k;"
    fi
    cat >"$TMP/nginx.conf" <<EOF
# nginx for http-compare.sh: a master and one worker, sendfile, keep-alive, $what.
$user_line
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx-error.log warn;
worker_rlimit_nofile $((SLOTS * 2 + 64));
events {
    worker_connections $SLOTS;
}
http {
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    $access_line
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:${PORT[nginx]};
        root $WWW;
        location / { }
    }
}
EOF
}

# ---------------------------------------------------------------------------------------------
# Starting a server and waiting until it answers.

start_server() {
    local name=$1 log=$TMP/$1.log
    case $name in
    tcpserve | tcpserve-nolog)
        # Only the files service (--files). Without --access-log, -q: at the default level
        # tcpserve logs one access line per request to stderr, which would put logging on the
        # hot path (lighttpd and nginx run with their access logs off). With it, the access
        # log goes to its file and the diagnostics (a few lines at start and stop) to stderr,
        # which is $log, at the default level: -q would silence the access lines as well.
        # tcpserve-nolog differs from tcpserve only by --access-log off.
        local -a logging=(-q)
        if ((ACCESS_LOG)); then logging=(); fi
        if [[ $name == tcpserve-nolog ]]; then
            logging+=(--access-log off)
        elif [[ -n ${ACCESS_FILE[tcpserve]:-} ]]; then
            logging+=(--access-log "${ACCESS_FILE[tcpserve]}")
        fi
        "$TCPSERVE" serve --files "127.0.0.1:${PORT[$name]}" --root "$WWW" "${logging[@]}" \
            "${TCPSERVE_EXTRA[@]}" >"$log" 2>&1 &
        ;;
    lighttpd)
        write_lighttpd_conf
        cp "$TMP/lighttpd.conf" "$OUT/configs/"
        "$LIGHTTPD" -D -f "$TMP/lighttpd.conf" >"$log" 2>&1 &
        ;;
    nginx)
        write_nginx_conf
        cp "$TMP/nginx.conf" "$OUT/configs/"
        # -e: the error log before the configuration is read (else /var/log/nginx/error.log).
        "$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" >"$log" 2>&1 &
        ;;
    esac
    PID[$name]=$!

    # Up to 10 s for the port to accept, while the process lives.
    local deadline=$((SECONDS + 10)) up=0
    while ((SECONDS < deadline)) && alive "${PID[$name]}"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$name]}") 2>/dev/null; then
            up=1
            break
        fi
        sleep 0.05
    done
    if ((!up)); then
        local why="did not accept on 127.0.0.1:${PORT[$name]} within 10 s"
        alive "${PID[$name]}" || why="exited at start"
        FAILED[$name]="$why: $(tail -q -n 3 "$log" "$TMP/$name-error.log" 2>/dev/null | tr '\n' ' ' || true)"
        return
    fi

    # Up to 15 s (the check's own socket timeout is 5 s) for two correct HTTP answers.
    local answer
    if answer=$(timeout -k 2 15 "$PYTHON" "$CHECK" "${PORT[$name]}" "$WWW" "${KNOWN_FILES[@]}" 2>&1); then
        KEEPALIVE[$name]=$answer
    else
        FAILED[$name]="no correct HTTP answer: ${answer:-the check timed out}"
    fi
    printf '%s\n' "$answer" >"$OUT/raw/check-$name.txt"
}

# ---------------------------------------------------------------------------------------------
# CPU accounting, with builtins only (nothing forked between the samples and wrk).

# sum_ticks PID...: sets TICKS to the sum of utime + stime of those processes (each process's
# figure covers all its threads), and GONE to how many have vanished.
sum_ticks() {
    TICKS=0
    GONE=0
    local p line
    local -a f
    for p in "$@"; do
        if ! read -r line 2>/dev/null <"/proc/$p/stat"; then
            GONE=$((GONE + 1))
            continue
        fi
        line=${line##*) }
        read -ra f <<<"$line"
        TICKS=$((TICKS + f[11] + f[12]))
    done
}

# machine_ticks: sets BUSY_TICKS to the CPU time every core of the machine has spent busy
# (user, nice, system, irq, softirq: the first line of /proc/stat), so that a run can say how
# much went to neither the server nor wrk: the kernel's own threads (writing back a log file's
# pages, softirqs) and anything else running on the machine.
machine_ticks() {
    local cpu user nice system idle iowait irq softirq _
    read -r cpu user nice system idle iowait irq softirq _ </proc/stat
    BUSY_TICKS=$((user + nice + system + irq + softirq))
}

# own_children_ticks: sets CHILD_TICKS to the CPU of this shell's reaped children (cutime +
# cstime), which grows by wrk's CPU (through timeout) when wrk ends.
own_children_ticks() {
    local line
    local -a f
    read -r line <"/proc/$$/stat"
    line=${line##*) }
    read -ra f <<<"$line"
    CHILD_TICKS=$((f[13] + f[14]))
}

# ---------------------------------------------------------------------------------------------
# One measured run.

ROWS=$TMP/rows.tsv
: >"$ROWS"
PROBLEMS=()

# Every request wrk completed against each server (warm-ups included) and how many wrk runs
# there were, for the access-log totals; WRK_UNKNOWN marks a server where a run's count could
# not be read.
declare -A WRK_TOTAL=() WRK_RUNS=() WRK_UNKNOWN=()

# count_wrk_run SERVER REQUESTS: one more wrk run against SERVER (REQUESTS empty if unknown).
count_wrk_run() {
    WRK_RUNS[$1]=$((${WRK_RUNS[$1]:-0} + 1))
    if [[ $2 =~ ^[0-9]+$ ]]; then
        WRK_TOTAL[$1]=$((${WRK_TOTAL[$1]:-0} + $2))
    else
        WRK_UNKNOWN[$1]=1
    fi
}

# warmup_requests FILE: the requests a wrk run without the Lua script completed, from its
# summary ("  123456 requests in 2.00s, ..."; an exact count, unlike the rates).
warmup_requests() {
    awk '$2 == "requests" && $3 == "in" { print $1; exit }' "$1"
}

# file_size FILE: its size in bytes, 0 if it does not exist yet.
file_size() {
    if [[ -e $1 ]]; then stat -c %s -- "$1"; else echo 0; fi
}

# row ROUND SERVER FILE STATUS [REQUESTS BYTES DURATION_US P50 P99 SERVER_TICKS WALL WRK_TICKS] NOTE
#     [LOG_LINES MACHINE_BUSY_TICKS]
row() {
    local IFS=$'\t'
    printf '%s\n' "$*" >>"$ROWS"
}

measure() {
    local round=$1 name=$2 file=$3
    local url="http://127.0.0.1:${PORT[$name]}/$file"
    local tag="r$round-$name-${file%.bin}"
    local raw=$OUT/raw/$tag.txt

    if [[ -n ${FAILED[$name]:-} ]]; then
        row "$round" "$name" "$file" failed "" "" "" "" "" "" "" "" "${FAILED[$name]}"
        return
    fi

    if ((WARMUP > 0)); then
        timeout --foreground -k 5 $((WARMUP + 30)) \
            "$WRK" -t "$THREADS" -c "$CONNS" -d "${WARMUP}s" "$url" >"$OUT/raw/$tag-warmup.txt" 2>&1 || true
        count_wrk_run "$name" "$(warmup_requests "$OUT/raw/$tag-warmup.txt")"
    fi

    # --access-log: where the server's log ends before the measured run, so that the lines
    # that run adds can be counted. The pause lets the warm-up's last lines reach the file
    # (tcpserve's writer gathers for up to 50 ms; nginx and lighttpd hold a buffer).
    local alog=${ACCESS_FILE[$name]:-} log_from=0 log_lines=""
    if [[ -n $alog ]]; then
        sleep 0.2
        log_from=$(file_size "$alog")
    fi

    tree_pids "${PID[$name]}"
    local -a pids=("${TREE[@]}")
    local rc=0 t0 t1 c0 c1 g0 g1 m0 m1
    sum_ticks "${pids[@]}"
    c0=$TICKS
    own_children_ticks
    g0=$CHILD_TICKS
    machine_ticks
    m0=$BUSY_TICKS
    t0=$EPOCHREALTIME
    timeout --foreground -k 5 $((DURATION + 30)) \
        "$WRK" -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$LUA" "$url" >"$raw" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    machine_ticks
    m1=$BUSY_TICKS
    own_children_ticks
    g1=$CHILD_TICKS
    sum_ticks "${pids[@]}"
    c1=$TICKS

    # wrk's totals, from the Lua line.
    local -A v=()
    local line kv
    local -a kvs
    line=$(grep -m1 '^HTTPCOMPARE ' "$raw" || true)
    read -ra kvs <<<"${line#HTTPCOMPARE }"
    for kv in "${kvs[@]}"; do v[${kv%%=*}]=${kv#*=}; done
    count_wrk_run "$name" "${v[requests]:-}"

    # The lines the measured run added (after the same pause). Up to one buffer of them may
    # still be held by the server (nginx: 64 KiB, a few hundred lines) and show up in the next
    # run's count instead; the total after the servers stop settles it.
    if [[ -n $alog ]]; then
        sleep 0.2
        log_lines=$(tail -c +"$((log_from + 1))" "$alog" | wc -l)
    fi

    # Any error makes the run invalid: a figure from a server that answered 404s, or whose
    # connections broke, would measure something else.
    local problem="" e
    if ((rc == 124)); then
        problem="wrk timed out"
    elif ((rc != 0)); then
        problem="wrk exited with status $rc"
    elif [[ -z $line ]]; then
        problem="wrk printed no totals"
    else
        local -a errs=()
        ((v[status] == 0)) || errs+=("${v[status]} non-2xx/3xx responses")
        ((v[connect] == 0)) || errs+=("${v[connect]} connect errors")
        ((v[read] == 0)) || errs+=("${v[read]} read errors")
        ((v[write] == 0)) || errs+=("${v[write]} write errors")
        ((v[timeout] == 0)) || errs+=("${v[timeout]} timeouts")
        ((v[requests] > 0)) || errs+=("no request completed")
        for e in "${errs[@]}"; do problem+="${problem:+, }$e"; done
    fi
    # The same counters as wrk prints them, as a second look ("Socket errors: connect 0, read
    # 3, ..." and "Non-2xx or 3xx responses: 12" appear only when not zero).
    local wrk_says
    wrk_says=$(grep -E '^ *(Non-2xx or 3xx responses|Socket errors):' "$raw" | sed 's/^ *//' | tr '\n' ' ' || true)
    if [[ -n $wrk_says && -z $problem ]]; then problem="wrk says: $wrk_says"; fi
    if ((GONE > 0)) || ! alive "${PID[$name]}"; then
        problem="${problem:+$problem; }the server exited during the run"
        FAILED[$name]="exited during a run: $(tail -q -n 3 "$TMP/$name.log" "$TMP/$name-error.log" 2>/dev/null | tr '\n' ' ' || true)"
    fi

    local wall
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    if [[ -n $problem ]]; then
        PROBLEMS+=("round $round, $name, $file: $problem (wrk output: $raw)")
        printf '\n!! %s %s (round %s): INVALID: %s\n!! wrk output: %s\n\n' "$name" "$file" "$round" "$problem" "$raw" >&2
        row "$round" "$name" "$file" invalid "${v[requests]:-}" "${v[bytes]:-}" "${v[duration_us]:-}" \
            "" "" "$((c1 - c0))" "$wall" "$((g1 - g0))" "$problem" "$log_lines" "$((m1 - m0))"
        return
    fi
    row "$round" "$name" "$file" ok "${v[requests]}" "${v[bytes]}" "${v[duration_us]}" \
        "${v[p50_us]}" "${v[p99_us]}" "$((c1 - c0))" "$wall" "$((g1 - g0))" "" "$log_lines" "$((m1 - m0))"
    awk -v n="$name" -v f="$file" -v r="${v[requests]}" -v b="${v[bytes]}" -v d="${v[duration_us]}" \
        -v c="$((c1 - c0))" -v hz="$HZ" -v l="$log_lines" 'BEGIN {
            printf "  %-14s %-6s %10.0f requests/s %6.2f GB/s %7.1f us CPU/request", n, f,
                r / (d / 1e6), b / (d / 1e6) / 1e9, c / hz * 1e6 / r
            if (l != "") printf ", %.0f access-log lines (%+.0f)", l, l - r
            printf "\n"
        }' >&2
}

# ---------------------------------------------------------------------------------------------
# The run.

for s in "${SELECTED[@]}"; do
    start_server "$s"
    if [[ -n ${FAILED[$s]:-} ]]; then
        PROBLEMS+=("$s: ${FAILED[$s]}")
        printf '\n!! %s FAILED: %s\n\n' "$s" "${FAILED[$s]}" >&2
    else
        printf '%s on 127.0.0.1:%s (pid %s): %s\n' "$s" "${PORT[$s]}" "${PID[$s]}" "${KEEPALIVE[$s]}" >&2
    fi
done

START_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
read -r LOAD_START _ </proc/loadavg
for ((round = 1; round <= ROUNDS; round++)); do
    # Each round starts with a different server, so none is always first or last.
    order=()
    for ((k = 0; k < ${#SELECTED[@]}; k++)); do
        order+=("${SELECTED[(k + round - 1) % ${#SELECTED[@]}]}")
    done
    for file in "${FILES[@]}"; do
        printf 'round %s/%s, %s: %s\n' "$round" "$ROUNDS" "$file" "${order[*]}" >&2
        for s in "${order[@]}"; do
            measure "$round" "$s" "$file"
        done
    done
done

# ---------------------------------------------------------------------------------------------
# --access-log: every line, counted once the servers have stopped. On TERM each writes out what
# it still holds (tcpserve's queue, nginx's buffer, lighttpd's), so every request wrk counted
# must have its line. A few more lines than requests are expected: a request answered just as
# wrk stops is logged but not counted by wrk, at most --conns per wrk run.

declare -A LOG_LINES=() LOG_BYTES=() LOG_EXPECTED=()
if ((ACCESS_LOG)); then
    for s in "${SELECTED[@]}"; do
        if [[ -n ${PID[$s]:-} ]]; then stop_server "$s"; fi
    done
    for s in "${SELECTED[@]}"; do
        alog=${ACCESS_FILE[$s]:-}
        [[ -n $alog && -z ${FAILED[$s]:-} ]] || continue
        LOG_LINES[$s]=$(if [[ -e $alog ]]; then wc -l <"$alog"; else echo 0; fi)
        LOG_BYTES[$s]=$(file_size "$alog")
        head -n 3 "$alog" >"$OUT/raw/access-sample-$s.txt" 2>/dev/null || true
        # The health check's requests (one per file) are logged too.
        [[ -n ${WRK_UNKNOWN[$s]:-} ]] || LOG_EXPECTED[$s]=$((${WRK_TOTAL[$s]:-0} + ${#KNOWN_FILES[@]}))
        if [[ -z ${LOG_EXPECTED[$s]:-} ]]; then
            printf 'http-compare: %s: %s access-log lines; a wrk run'"'"'s count is unknown, so not checked\n' \
                "$s" "${LOG_LINES[$s]}" >&2
        elif ((LOG_LINES[$s] < LOG_EXPECTED[$s])); then
            PROBLEMS+=("$s: its access log has ${LOG_LINES[$s]} lines for ${LOG_EXPECTED[$s]} requests ($((LOG_EXPECTED[$s] - LOG_LINES[$s])) missing)")
        elif ((LOG_LINES[$s] > LOG_EXPECTED[$s] + ${WRK_RUNS[$s]:-0} * CONNS)); then
            PROBLEMS+=("$s: its access log has ${LOG_LINES[$s]} lines for ${LOG_EXPECTED[$s]} requests (more than the $CONNS per wrk run a stop can leave uncounted)")
        fi
    done
fi
# What each server said on its stderr (tcpserve: its diagnostics, a lost log line among them).
for s in "${SELECTED[@]}"; do
    tail -n 200 "$TMP/$s.log" >"$OUT/raw/stderr-$s.txt" 2>/dev/null || true
done

# ---------------------------------------------------------------------------------------------
# Versions and the report.

version() {
    case $1 in
    tcpserve | tcpserve-nolog) "$TCPSERVE" --version 2>&1 | head -n1 || true ;;
    lighttpd) "$LIGHTTPD" -v 2>&1 | head -n1 | sed 's/ - .*//' || true ;;
    nginx) "$NGINX" -v 2>&1 | head -n1 | sed 's/^nginx version: //' || true ;;
    esac
}
VERSIONS=""
for s in "${SELECTED[@]}"; do
    # tcpserve-nolog is the same program.
    [[ $s == tcpserve-nolog && " ${SELECTED[*]} " == *" tcpserve "* ]] && continue
    VERSIONS+="${VERSIONS:+; }$(version "$s")"
done
WRK_VERSION=$({ "$WRK" -v 2>&1 || true; } | head -n1 | sed 's/ *Copyright.*//')
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
TITLE=""
for s in "${SELECTED[@]}"; do TITLE+="${TITLE:+, }$s"; done
read -r LOAD_END _ </proc/loadavg
# The ratios compare tcpserve with each other server; without tcpserve, the first selected.
BASE=${SELECTED[0]}

# How the report names the files and the servers' settings.
declare -A FILE_SHOWN=([4k.bin]="4,096 bytes" [1m.bin]="1,048,576 bytes")
FILES_TEXT=""
for f in "${FILES[@]}"; do FILES_TEXT+="${FILES_TEXT:+ and }$f (${FILE_SHOWN[$f]})"; done
NOLOG_TEXT=""
if [[ " ${SELECTED[*]} " == *" tcpserve-nolog "* ]]; then
    NOLOG_TEXT="; tcpserve-nolog the same with \`--access-log off\`"
fi
if ((ACCESS_LOG)); then
    TITLE+=", each writing an access log"
    SETTINGS="tcpserve \`serve --files ADDR --root DIR --access-log FILE${TCPSERVE_ARGS:+ $TCPSERVE_ARGS}\`
  (the common format; diagnostics at the default level to stderr, which is another file)$NOLOG_TEXT;
  lighttpd one process, \`server.network-backend = \"sendfile\"\`, keep-alive 65535 requests,
  \`mod_accesslog\` to a file in its default format (common plus the Host, Referer and
  User-Agent); nginx master + 1 worker, \`sendfile on; tcp_nopush on;\`, keepalive_requests
  10^9, \`access_log FILE combined buffer=64k\`. Every access log is a file in one temporary
  directory, on a $(findmnt -n -o FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP" 2>/dev/null || echo "unknown") file system: the kernel writes the pages back with its own
  threads, whose CPU no server is charged for."
else
    SETTINGS="tcpserve \`serve --files ADDR --root DIR -q${TCPSERVE_ARGS:+ $TCPSERVE_ARGS}\`$NOLOG_TEXT;
  lighttpd one process, \`server.network-backend = \"sendfile\"\`, keep-alive 65535 requests, no
  access log; nginx master + 1 worker, \`sendfile on; tcp_nopush on;\`, keepalive_requests 10^9,
  access_log off."
fi

cat >"$OUT/http.md" <<EOF
# HTTP file serving: $TITLE under wrk

Run $START_DATE: \`$COMMAND_LINE\`

- Machine: $(nproc) cores ($CPU_MODEL), Linux $(uname -r), loopback only; wrk shares the cores
  with the server under test. TCP congestion control
  $(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown) (it decides 1 MiB
  downloads here: see docs/BENCHMARKS.md). 1-minute load average $LOAD_START before the runs, $LOAD_END after
  them (the runs themselves add up to 2; a start well above 0 means something else was busy).
- Versions: $VERSIONS; $WRK_VERSION.
- Load: \`wrk -t $THREADS -c $CONNS -d ${DURATION}s --latency\` per server and file, after a
  ${WARMUP} s warm-up at the same load; servers interleaved per file size, $ROUNDS round(s), each
  round starting with a different server.
- Files: $FILES_TEXT of random data, one copy served by every server.
- GB/s: bytes wrk read (heads and bodies) over wrk's measured time, 10^9 bytes. Latency: wrk's
  percentiles of request times (closed loop: each connection waits for its answer).
- CPU: user + system time of every process of the server (tcpserve: its one process, all
  threads; lighttpd: its one process; nginx: master and worker), from /proc/PID/stat before and
  after the measured run (10 ms ticks), divided by the requests wrk completed. Server and wrk
  cores: their CPU time over the run's wall time. Other cores: the machine's busy time (/proc/stat)
  less the server's and wrk's, over the same time: the kernel's own threads (softirqs, writing
  back files) and anything else running; well above 0.1 means something else competed.
- Settings: $SETTINGS The configurations are in configs/. Seen with strace (lighttpd 1.4.69, nginx 1.22.1): lighttpd
  reads a body under 16 KiB into memory and sends it with the head in one writev, so 4k.bin
  does not go through sendfile there, and its stat cache keeps the file open between
  requests; nginx, with no open_file_cache (its default), opens, stats and closes the file
  for every request, and sends head (writev) and body (sendfile) under TCP_CORK.

EOF

awk -F'\t' -v hz="$HZ" -v base="$BASE" -v md="$OUT/http.md" -v csv="$OUT/http.csv" \
    -v conns="$CONNS" -v threads="$THREADS" -v order="${SELECTED[*]}" -v files="${FILES[*]}" \
    -v logged="$ACCESS_LOG" '
function sep(n,    s, neg) {  # 12345.6 -> "12,346"
    n = sprintf("%.0f", n); neg = ""
    if (n ~ /^-/) { neg = "-"; n = substr(n, 2) }
    s = ""
    while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) }
    return neg n s
}
function ms(us,    m) {
    m = us / 1000
    return m >= 100 ? sprintf("%.0f ms", m) : m >= 10 ? sprintf("%.1f ms", m) : m >= 1 ? sprintf("%.2f ms", m) : sprintf("%.3f ms", m)
}
function cpu(u) { return u >= 100 ? sprintf("%.0f", u) : sprintf("%.1f", u) }
function x(v) { return (v >= 0.1 ? sprintf("%.2f", v) : sprintf("%.2g", v)) "×" }
function q(s) { gsub(/"/, "\"\"", s); return "\"" s "\"" }
# An access-log count beside the requests wrk completed: "1,234,567 (+12)".
function lines(l, r) { return l == "" ? "—" : sep(l) (r == "" ? "" : sprintf(" (%s%s)", l - r >= 0 ? "+" : "−", sep(l - r >= 0 ? l - r : r - l))) }
{
    k = $1 SUBSEP $2 SUBSEP $3
    rounds[$1] = 1; status[k] = $4; note[k] = $13; loglines[k] = $14
    if ($4 == "ok") {
        d = $7 / 1e6
        rps[k] = $5 / d; gbs[k] = $6 / d / 1e9; p50[k] = $8; p99[k] = $9
        cpuus[k] = $10 / hz * 1e6 / $5; scores[k] = $10 / hz / $11; wcores[k] = $12 / hz / $11
        # Whatever was busy besides the server and wrk (never below 0: the samples are ticks).
        ocores[k] = ($15 - $10 - $12) / hz / $11; if (ocores[k] < 0) ocores[k] = 0
        dur[k] = d; req[k] = $5
    }
}
END {
    ns = split(order, S, " "); nf = split(files, F, " ")
    nr = 0; for (r in rounds) nr++
    # access_log_lines: the lines the access log of the server gained over the measured run (empty
    # without --access-log, and for a server that logs none).
    # other_cores: the cores busy with neither the server nor wrk over the run.
    print "kind,round,server,file,connections,threads,duration_s,requests,requests_per_s,gb_per_s,p50_ms,p99_ms,cpu_us_per_request,server_cores,wrk_cores,status,note,access_log_lines,other_cores" > csv
    if (logged) {
        print "| round | server | file | conns | requests/s | GB/s | p50 | p99 | CPU µs/request | server cores | wrk cores | other cores | access-log lines (− requests) | check |" >> md
        print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" >> md
    } else {
        print "| round | server | file | conns | requests/s | GB/s | p50 | p99 | CPU µs/request | server cores | wrk cores | other cores | check |" >> md
        print "|---|---|---|---|---|---|---|---|---|---|---|---|---|" >> md
    }
    for (r = 1; r <= nr; r++) for (j = 1; j <= nf; j++) for (i = 1; i <= ns; i++) {
        k = r SUBSEP S[i] SUBSEP F[j]
        if (!(k in status)) continue
        lc = logged ? " " lines(loglines[k], status[k] == "ok" ? req[k] : "") " |" : ""
        if (status[k] == "ok") {
            printf "| %d | %s | %s | %d | %s | %.2f | %s | %s | %s | %.2f | %.2f | %.2f |%s ok |\n", r, S[i], F[j], conns,
                sep(rps[k]), gbs[k], ms(p50[k]), ms(p99[k]), cpu(cpuus[k]), scores[k], wcores[k], ocores[k], lc >> md
            printf "measured,%d,%s,%s,%d,%d,%.3f,%d,%.1f,%.4f,%.3f,%.3f,%.2f,%.3f,%.3f,ok,,%s,%.3f\n", r, S[i], F[j], conns, threads,
                dur[k], req[k], rps[k], gbs[k], p50[k] / 1000, p99[k] / 1000, cpuus[k], scores[k], wcores[k], loglines[k], ocores[k] >> csv
        } else {
            printf "| %d | %s | %s | %d | — | — | — | — | — | — | — | — |%s **%s: %s** |\n", r, S[i], F[j], conns,
                lc, toupper(status[k]), note[k] >> md
            printf "measured,%d,%s,%s,%d,%d,,,,,,,,,,%s,%s,%s,\n", r, S[i], F[j], conns, threads, status[k], q(note[k]), loglines[k] >> csv
        }
    }
    # Where wrk used (nearly) all of its threads, the generator limits the throughput.
    sat = ""
    for (r = 1; r <= nr; r++) for (j = 1; j <= nf; j++) for (i = 1; i <= ns; i++) {
        k = r SUBSEP S[i] SUBSEP F[j]
        if (status[k] == "ok" && wcores[k] >= 0.9 * threads)
            sat = sat (sat == "" ? "" : ", ") S[i] " " F[j] (nr > 1 ? " (round " r ")" : "")
    }
    if (sat != "") {
        print "" >> md
        printf "wrk was near its ceiling (at least 90%% of %d thread(s) busy) for: %s. There the generator limits requests/s and GB/s; CPU per request still compares the servers.\n", threads, sat >> md
    }
    # Ratios: the base server over each other one, same round and file.
    print "" >> md
    print "Ratios, " base " ÷ each other server, same round and file (requests/s and GB/s: higher is better for " base "; p99 and CPU: lower is):" >> md
    print "" >> md
    print "| round | file | " base " ÷ | requests/s | GB/s | p50 | p99 | CPU µs/request |" >> md
    print "|---|---|---|---|---|---|---|---|" >> md
    any = 0
    for (r = 1; r <= nr; r++) for (j = 1; j <= nf; j++) for (i = 1; i <= ns; i++) {
        if (S[i] == base) continue
        a = r SUBSEP base SUBSEP F[j]; b = r SUBSEP S[i] SUBSEP F[j]
        if (status[a] != "ok" || status[b] != "ok") {
            printf "| %d | %s | %s | — | — | — | — | — |\n", r, F[j], S[i] >> md
            continue
        }
        any = 1
        printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r, F[j], S[i], x(rps[a] / rps[b]), x(gbs[a] / gbs[b]),
            x(p50[a] / p50[b]), x(p99[a] / p99[b]), x(cpuus[a] / cpuus[b]) >> md
        printf "ratio,%d,%s/%s,%s,%d,%d,,,%.4f,%.4f,%.4f,%.4f,%.4f,,,ok,,,\n", r, base, S[i], F[j], conns, threads,
            rps[a] / rps[b], gbs[a] / gbs[b], p50[a] / p50[b], p99[a] / p99[b], cpuus[a] / cpuus[b] >> csv
    }
    ran4 = ran1 = 0
    for (j = 1; j <= nf; j++) { if (F[j] == "4k.bin") ran4 = 1; if (F[j] == "1m.bin") ran1 = 1 }
    at50 = conns != 50 ? "; the goal is stated for 50 connections, this run used " conns : ""
    if (base == "tcpserve" && logged) {
        # Issue 11: on 4 KiB at 50 connections, every server logging each request to a file,
        # tcpserve at least lighttpd on requests/s at no more CPU per request, and its access
        # log adding at most 10% CPU per request over --access-log off (tcpserve-nolog).
        print "" >> md
        print "Issue 11 goal, 4 KiB (tcpserve ÷ lighttpd, both logging; tcpserve ÷ tcpserve-nolog" at50 "):" >> md
        print "" >> md
        if (!ran4) print "- not measured: 4k.bin was not run (--files)" >> md
        else for (r = 1; r <= nr; r++) {
            a = r SUBSEP "tcpserve" SUBSEP "4k.bin"; b = r SUBSEP "lighttpd" SUBSEP "4k.bin"
            c = r SUBSEP "tcpserve-nolog" SUBSEP "4k.bin"
            if (status[a] == "ok" && status[b] == "ok")
                vs_l = sprintf("requests/s %s lighttpd'"'"'s (%s), CPU per request %s (%s)",
                    x(rps[a] / rps[b]), (rps[a] >= rps[b] ? "met" : "**not met**"),
                    x(cpuus[a] / cpuus[b]), (cpuus[a] <= cpuus[b] ? "met" : "**not met**"))
            else vs_l = "against lighttpd: not measured"
            if (status[a] == "ok" && status[c] == "ok") {
                g = cpuus[a] / cpuus[c]
                vs_n = sprintf("CPU per request with the log %s of without (%s%.1f%%; %s)", x(g),
                    g >= 1 ? "+" : "−", (g >= 1 ? g - 1 : 1 - g) * 100, (g <= 1.10 ? "met" : "**not met**"))
            } else vs_n = "against tcpserve-nolog: not measured"
            printf "- round %d: %s; %s\n", r, vs_l, vs_n >> md
        }
    } else if (base == "tcpserve") {
        # Issue 7: at 50 connections, tcpserve at least lighttpd on 4 KiB requests/s and on
        # 1 MiB GB/s, at no more CPU per request (no server logging).
        print "" >> md
        print "Issue 7 goal (tcpserve ÷ lighttpd" at50 "):" >> md
        print "" >> md
        for (r = 1; r <= nr; r++) {
            a4 = r SUBSEP "tcpserve" SUBSEP "4k.bin"; b4 = r SUBSEP "lighttpd" SUBSEP "4k.bin"
            a1 = r SUBSEP "tcpserve" SUBSEP "1m.bin"; b1 = r SUBSEP "lighttpd" SUBSEP "1m.bin"
            if (status[a4] == "ok" && status[b4] == "ok")
                printf "- round %d, 4 KiB: requests/s %s (%s), CPU per request %s (%s)\n", r,
                    x(rps[a4] / rps[b4]), (rps[a4] >= rps[b4] ? "met" : "**not met**"),
                    x(cpuus[a4] / cpuus[b4]), (cpuus[a4] <= cpuus[b4] ? "met" : "**not met**") >> md
            else if (ran4) printf "- round %d, 4 KiB: not measured (a run failed)\n", r >> md
            if (status[a1] == "ok" && status[b1] == "ok")
                printf "- round %d, 1 MiB: GB/s %s (%s), CPU per request %s (%s)\n", r,
                    x(gbs[a1] / gbs[b1]), (gbs[a1] >= gbs[b1] ? "met" : "**not met**"),
                    x(cpuus[a1] / cpuus[b1]), (cpuus[a1] <= cpuus[b1] ? "met" : "**not met**") >> md
            else if (ran1) printf "- round %d, 1 MiB: not measured (a run failed)\n", r >> md
        }
    }
}' "$ROWS"
cp "$ROWS" "$OUT/raw/rows.tsv"

# thousands N: 1234567 -> 1,234,567
thousands() {
    local n=$1 s=""
    while ((${#n} > 3)); do
        s=",${n: -3}$s"
        n=${n:0:-3}
    done
    printf '%s%s' "$n" "$s"
}

{
    if ((ACCESS_LOG)); then
        echo
        echo "Access logs over the whole run, counted after the servers stopped (each writes out what it"
        echo "still holds on TERM). Every request wrk completed, warm-ups and the health check's included,"
        echo "must have its line; up to $CONNS more per wrk run are expected (requests answered as wrk"
        echo "stopped, which wrk does not count):"
        echo
        echo "| server | lines | requests | lines − requests | wrk runs | bytes per line | first line |"
        echo "|---|---|---|---|---|---|---|"
        for s in "${SELECTED[@]}"; do
            [[ -n ${LOG_LINES[$s]:-} ]] || continue
            lines=${LOG_LINES[$s]} expected=${LOG_EXPECTED[$s]:-} diff="unknown" per="—"
            if [[ -n $expected ]]; then
                diff=$((lines - expected))
                if ((diff < 0)); then diff="−$(thousands $((-diff)))"; else diff="+$(thousands "$diff")"; fi
                expected=$(thousands "$expected")
            else
                expected="unknown"
            fi
            if ((lines > 0)); then per=$(awk -v b="${LOG_BYTES[$s]}" -v l="$lines" 'BEGIN { printf "%.1f", b / l }'); fi
            first=$(head -n 1 "$OUT/raw/access-sample-$s.txt" 2>/dev/null || true)
            echo "| $s | $(thousands "$lines") | $expected | $diff | ${WRK_RUNS[$s]:-0} | $per | \`${first//|/\\|}\` |"
        done
    fi
    echo
    if ((${#PROBLEMS[@]})); then
        echo "**Problems** (a run with a problem gets no figures):"
        echo
        for p in "${PROBLEMS[@]}"; do echo "- $p"; done
    else
        echo "Every server answered 200 with the right bytes; no run had a non-2xx/3xx response or a socket error."
    fi
    echo
    echo "Health checks (GET of both files over one connection, status 200 and the exact bytes):"
    echo
    for s in "${SELECTED[@]}"; do
        if [[ -n ${FAILED[$s]:-} ]]; then
            echo "- $s: **failed**"
        elif [[ -n ${KEEPALIVE[$s]:-} ]]; then
            echo "- $s: ${KEEPALIVE[$s]}"
        fi
    done
} >>"$OUT/http.md"

echo >&2
cat "$OUT/http.md"
printf '\nwritten: %s/http.md, %s/http.csv, %s/raw/, %s/configs/\n' "$OUT" "$OUT" "$OUT" "$OUT" >&2

if ((${#PROBLEMS[@]})); then
    printf '\nhttp-compare: %d problem(s); see above\n' "${#PROBLEMS[@]}" >&2
    exit 1
fi
