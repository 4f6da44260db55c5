#!/usr/bin/env python3
"""Soak: mixed load against one running tcpserve, for a bounded time, then a check.

    soak.py --pid PID --echo HOST:PORT --files HOST:PORT --root DIR [--seconds 600]

Workers, each a thread in a bounded loop until the time is up:
  echo      connect, send random bytes, read them back, compare, close
  raw       download a file by the raw protocol, compare with the file on disk
  http      keep-alive connection, pipelined GETs (full and ranged), every body compared
  abort     start a large download, read a little, reset the connection
  slow      send half a request head and stop; the server's request timeout closes it
  flood     open more connections than --max-conns, briefly
At the end: every worker's counts and failures; the server's open descriptors and resident
memory before and after, once every connection has closed. Exit status 1 on any mismatch, a
failure count above zero, or descriptors/memory not back near their start.
"""
import argparse, errno, os, random, socket, struct, sys, threading, time

def addr(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)

def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

def read_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(min(1 << 16, n - len(out)))
        if not chunk:
            raise EOFError(f"{len(out)} of {n} bytes")
        out += chunk
    return bytes(out)

def read_all(s, out):
    """Reads into `out` (the caller's, so what came before a reset is kept) until the end."""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            return bytes(out)
        out += chunk

# The iterative model serves one client at a time: a client may wait in the backlog longer than
# its timeout. Set from --model; a wait that ends in a timeout before any byte is then counted
# as waited, not as a fault (for the other models it is one).
ONE_AT_A_TIME = False

def waited(e, got):
    return ONE_AT_A_TIME and isinstance(e, TimeoutError) and not got

def refused(e):
    """A client over --max-conns is accepted and closed at once: it reads nothing, or is
    reset. That is the flood doing its work, not a fault, if nothing at all came back."""
    return isinstance(e, EOFError) or getattr(e, "errno", None) in (
        errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN)

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []
    def ok(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
    def fail(self, kind, why):
        with self.lock:
            self.failures.append(f"{kind}: {why}")
    def ended(self, kind, e, got):
        """A `kind` client's connection ended in `e` after `got` (bytes or answers) came:
        refused over the cap, waited out in the iterative model's backlog, or a failure."""
        if refused(e) and not got:
            self.ok("refused")
        elif waited(e, got):
            self.ok("waited")
        else:
            self.fail(kind, repr(e))

def exchange(kind, a, payload, want, stats):
    """One connection: sends `payload` and the end of input, reads to the end, compares."""
    got = bytearray()
    try:
        with socket.create_connection(a, timeout=20) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            read_all(s, got)
        if not got:
            stats.ok("refused")
        elif got != want:
            stats.fail(kind, f"{len(got)} of {len(want)} bytes, or different")
        else:
            stats.ok(kind)
    except OSError as e:
        stats.ended(kind, e, got)

def echo(a, files, stats, until):
    rng = random.Random(1)
    while time.time() < until:
        data = rng.randbytes(rng.randint(1, 200_000))
        exchange("echo", a, data, data, stats)

def raw(a, files, stats, until):
    rng = random.Random(2)
    while time.time() < until:
        name, content = rng.choice(files)
        exchange("raw", a, name.encode() + b"\n", content, stats)

def http(a, files, stats, until):
    rng = random.Random(3)
    while time.time() < until:
        answered = 0
        try:
            with socket.create_connection(a, timeout=20) as s:
                f = s.makefile("rb")
                closed = False  # the server said `Connection: close` (the iterative model does)
                for _ in range(rng.randint(1, 20)):
                    if closed:
                        break
                    batch = [rng.choice(files) for _ in range(rng.randint(1, 4))]
                    reqs = b""
                    for name, content in batch:
                        rng_hdr = b""
                        if len(content) > 10 and rng.random() < 0.3:
                            lo = rng.randrange(len(content) - 1)
                            rng_hdr = f"Range: bytes={lo}-\r\n".encode()
                        reqs += f"GET /{name} HTTP/1.1\r\nHost: soak\r\n".encode() + rng_hdr + b"\r\n"
                    s.sendall(reqs)  # pipelined
                    for (name, content), line in zip(batch, reqs.split(b"\r\n\r\n")):
                        status = f.readline()
                        if closed:
                            break  # the rest of the batch is not answered: as announced
                        if not status and not answered:
                            raise EOFError("closed before an answer")
                        answered += 1
                        length, start = None, 0
                        while True:
                            h = f.readline()
                            if h in (b"\r\n", b""):
                                break
                            k, _, v = h.decode("latin-1").partition(":")
                            if k.lower() == "content-length":
                                length = int(v)
                            if k.lower() == "content-range":
                                start = int(v.split()[1].split("-")[0])
                            if k.lower() == "connection" and "close" in v.lower():
                                closed = True
                        body = f.read(length or 0)
                        want = content[start:start + (length or 0)]
                        if not status.startswith((b"HTTP/1.1 200", b"HTTP/1.1 206")) or body != want:
                            stats.fail("http", f"{name}: {status!r}, {len(body)} bytes")
                        else:
                            stats.ok("http")
        except (OSError, ValueError, EOFError) as e:
            stats.ended("http", e, answered)

def abort(a, files, stats, until):
    big = max(files, key=lambda f: len(f[1]))[0]
    while time.time() < until:
        try:
            s = socket.create_connection(a, timeout=20)
            s.sendall(big.encode() + b"\n")
            s.recv(1 << 16)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset, mid-download
            stats.ok("abort")
        except OSError as e:
            stats.ended("abort", e, b"")

def slow(a, files, stats, until):
    while time.time() < until:
        try:
            began = time.time()
            with socket.create_connection(a, timeout=30) as s:
                s.sendall(b"GET /a HTTP/1.1\r\nHost: so")  # and never the rest
                got = read_all(s, bytearray())  # the request timeout: 408, then close
            if not got and time.time() - began < 1:
                stats.ok("refused")  # closed at once, during a flood: over --max-conns
            elif not got.startswith(b"HTTP/1.1 408"):
                stats.fail("slow", f"answered {bytes(got[:40])!r}, not 408")
            else:
                stats.ok("slow")
        except OSError as e:
            stats.ended("slow", e, b"")

def flood(a, files, stats, until, many=300):
    while time.time() < until:
        socks = []
        try:
            for _ in range(many):
                socks.append(socket.create_connection(a, timeout=20))
            stats.ok("flood")
        except OSError as e:
            stats.fail("flood", repr(e))
        finally:
            for s in socks:
                s.close()
        time.sleep(1)  # pacing between floods, not synchronisation

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--echo", required=True)
    p.add_argument("--files", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--model", default="reactor")
    o = p.parse_args()
    global ONE_AT_A_TIME
    ONE_AT_A_TIME = o.model == "iterative"
    files = []
    for name in sorted(os.listdir(o.root)):
        files.append((name, open(os.path.join(o.root, name), "rb").read()))
    e, f = addr(o.echo), addr(o.files)
    fd0 = fds(o.pid)
    stats = Stats()
    until = time.time() + o.seconds
    plan = [(echo, e)] * 2 + [(raw, f)] * 2 + [(http, f)] * 2 + [(abort, f), (slow, f), (flood, e)]
    threads = [threading.Thread(target=w, args=(a, files, stats, until), name=w.__name__)
               for w, a in plan]
    for t in threads:
        t.start()
    # Memory is measured from after a warm-up: the allocator's first growth is not a leak.
    time.sleep(min(30, o.seconds / 4))  # a measurement point, not synchronisation
    rss0 = rss_kib(o.pid)
    for t in threads:
        t.join(o.seconds + 120)
    hung = [t.name for t in threads if t.is_alive()]
    for name in hung:
        stats.fail("worker", f"{name} still running after its time")
    # Every client is gone; the server closes its ends within its timeouts.
    deadline = time.time() + 60
    while time.time() < deadline and fds(o.pid) > fd0:
        time.sleep(0.5)  # a wait on a condition (descriptors back), with a deadline
    fd1, rss1 = fds(o.pid), rss_kib(o.pid)
    print("counts:", dict(sorted(stats.counts.items())))
    print(f"descriptors {fd0} -> {fd1}; resident memory {rss0} -> {rss1} KiB")
    for line in stats.failures[:20]:
        print("FAILED", line)
    # Every kind of client must have been served, not only refused.
    for kind in ("echo", "raw", "http", "abort", "slow", "flood"):
        if not stats.counts.get(kind):
            stats.fail(kind, "never completed once")
    bad = stats.failures or fd1 > fd0 or rss1 > rss0 + 4 * 1024
    print("soak:", "FAILED" if bad else "ok", f"({len(stats.failures)} failures)")
    sys.exit(1 if bad else 0)

main()
