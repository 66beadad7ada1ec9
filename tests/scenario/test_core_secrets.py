"""No secret of keyroled's is left in a core dump after `keyrole forget --all`
(issue 13), and before it none is outside the secure heap.

keyroled (memory cache) gets a cold two-hop chain (dev -> prod -> prod-admin)
from moto through the real client, then a cache hit on the first hop; the
STS calls go through a small front of our own that forwards them to moto
and keeps each request's Authorization Signature= value. Once over plain
HTTP, once over HTTPS (curl's TLS buffers, OpenSSL's records). Then gdb
writes cores of the daemon, and we count in them, raw and percent-encoded:
the session tokens and secret access keys handed out, the source secret key,
the STS XML marker `<SessionToken>`, and the two signatures.

How the core is taken: keyroled is non-dumpable with RLIMIT_CORE 0, so the
kernel writes no core at all (test_secrets.py). Root can still attach with
ptrace (CAP_SYS_PTRACE) and write one with gdb: that is the threat here. gdb
13's gcore leaves out what the kernel would leave out (it honours
/proc/PID/coredump_filter and, with `dump-excluded-mappings off`, its
default, every VM_DONTDUMP mapping: checked with a marker written into a
MADV_DONTDUMP mapping), so "the core" below is what a kernel core would
hold. A second core with `dump-excluded-mappings on` includes the secure
heap too: it shows where the secrets went (a positive control for the
needles), and after forget --all nothing may be left even there.

Counts are of the process memory in the core (its PT_LOAD segments). Its
notes hold the threads' registers, and the vector registers sometimes still
hold the last ~100 bytes some SIMD memcpy moved (seen: a piece of a reply
with one 40-byte secret key, before forget, in about one run out of three);
those are reported, not asserted: no buffer of ours can wipe them.

Measured (copies outside the secure heap, i.e. in a real core; "all" = with
the secure heap), tokens / secret keys / <SessionToken> / Signature= /
source secret:

  main 9a207dd, http:   before 4/4/2/0/1, after 2/2/2/0/1
  main 9a207dd, https:  before 6/5/3/1/1, after 4/3/3/1/1
  secmem, http+https:   before 0/0/0/0/1 (all: 2/2/0/0/1),
                        after  0/0/0/0/1 (all: 0/0/0/0/1)
  with ini values in secret memory too:
                        before 0/0/0/0/0 (all: 2/2/0/0/1),
                        after  0/0/0/0/0 (all: 0/0/0/0/1)

The one source-secret copy left is daemon/ini.c's parse cache of
~/.aws/credentials, in the secure heap (kept while the file is unchanged;
the file itself holds the key in clear): none may be outside it, and at
most that one inside.

Skipped unless root with gdb, and in the sanitizer build (ASan's shadow
memory makes a core of many GiB, and its allocator is not what ships).
"""

import http.client
import http.server
import json
import os
import re
import shutil
import ssl
import struct
import subprocess
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

MARKER = b"<SessionToken>"


class RecordingFront:
    """HTTP(S) on 127.0.0.1 in front of moto: forwards every request as is and
    keeps the Signature= value of each Authorization header (in memory only,
    never printed). Keep-alive, so curl keeps the connection in its cache."""

    def __init__(self, upstream_url, tls_ctx=None):
        outer = self
        up = urllib.parse.urlsplit(upstream_url)
        self.signatures = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                m = re.search(r"Signature=([0-9a-f]{64})", self.headers.get("Authorization", ""))
                if m:
                    with outer.lock:
                        outer.signatures.append(m.group(1))
                c = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                try:
                    c.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        if k.lower() not in ("connection", "expect", "content-length"):
                            c.putheader(k, v)
                    c.putheader("Content-Length", str(len(body)))
                    c.endheaders(body)
                    r = c.getresponse()
                    data, status = r.read(), r.status
                    ctype = r.getheader("Content-Type", "text/xml")
                finally:
                    c.close()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        if tls_ctx:
            self.srv.socket = tls_ctx.wrap_socket(self.srv.socket, server_side=True)
        self.url = "%s://127.0.0.1:%d" % ("https" if tls_ctx else "http",
                                          self.srv.server_address[1])
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


def variants(s):
    """s as raw bytes and percent-encoded (as in a form body or a URL)."""
    return sorted({s.encode(), urllib.parse.quote(s, safe="").encode(),
                   urllib.parse.quote_plus(s, safe="").encode()})


def load_segments(path):
    """-> [(file offset, size)] of the PT_LOAD segments of an ELF64 core (the
    process's memory; everything else is notes: registers, auxv, file list)."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            raise RuntimeError("not an ELF64 core")
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1:  # PT_LOAD
            out.append((p_offset, p_filesz))
    return out


def scan(path, needles):
    """-> {name: (in memory, in notes)}: occurrences of each kind in the core
    at path, split between its memory (PT_LOAD) and its notes (the threads'
    registers...). needles = {name: [bytes]} (None: the STS XML marker).
    Read in chunks: a core may be large."""
    pats = {k: (v if v is not None else [MARKER]) for k, v in needles.items()}
    longest = max(len(p) for ps in pats.values() for p in ps)
    hits = {k: set() for k in pats}
    chunk = 16 << 20
    with open(path, "rb") as f:
        base, tail = 0, b""
        while True:
            data = f.read(chunk)
            buf = tail + data
            for k, ps in pats.items():
                for p in ps:
                    i = buf.find(p)
                    while i >= 0:
                        hits[k].add((p, base - len(tail) + i))
                        i = buf.find(p, i + 1)
            if not data:
                break
            base += len(data)
            tail = buf[-(longest - 1):] if longest > 1 else b""
    loads = load_segments(path)

    def in_memory(off):
        return any(o <= off < o + n for o, n in loads)
    return {k: (sum(1 for _, o in v if in_memory(o)), sum(1 for _, o in v if not in_memory(o)))
            for k, v in hits.items()}


def gcore(run, pid, name, excluded, needles):
    """Write a core of pid with gdb and count needles in it; the file is
    removed at once (it may hold secrets). excluded=False: what the kernel
    would write (VM_DONTDUMP mappings left out); True: every mapping."""
    path = run.path(name)
    p = subprocess.run(
        ["gdb", "-nx", "-batch", "-p", str(pid),
         "-ex", "set debuginfod enabled off",
         "-ex", "set dump-excluded-mappings %s" % ("on" if excluded else "off"),
         "-ex", "gcore " + path],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env=krtest.clean_env({"DEBUGINFOD_URLS": ""}))
    if not os.path.exists(path):
        raise RuntimeError("gcore wrote nothing: " + (p.stdout + p.stderr)[-2000:])
    try:
        return scan(path, needles)
    finally:
        os.unlink(path)


def dontdump_mappings(pid):
    """Mappings of pid flagged dd (MADV_DONTDUMP) -> [(size, VmFlags list)]."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for ln in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", ln)
            if m:
                cur = int(m.group(2), 16) - int(m.group(1), 16)
            elif ln.startswith("VmFlags:") and cur is not None:
                flags = ln.split()[1:]
                if "dd" in flags:
                    out.append((cur, flags))
    return out


def measure(tap, run, seed, moto, tls):
    label = "https" if tls else "http"
    ctx, extra = None, {}
    if tls:
        cert, key = krtest.make_cert(run)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        extra["AWS_CA_BUNDLE"] = cert
    front = run.adopt(RecordingFront(moto.url, ctx))
    home = run.home("core-" + label)
    cfg, creds = krtest.chain_config(seed)
    krtest.write_aws_config(home, cfg, creds)
    d = run.adopt(krtest.Daemon(None, home, run.mkdtemp("sock-core-"), run=run, cache="memory",
                                log_level="info").start())
    env = krtest.aws_env(home, d.socket, front.url,
                         extra=dict(extra, KEYROLE_NO_AUTOSTART="1"))
    handed = []
    for prof in ("prod-admin", "prod"):  # a cold two-hop chain, then a hit on its first hop
        p = krtest.run_client(["get", prof], env=env, timeout=60)
        if tap.ok(p.returncode == 0, "%s: keyrole get %s" % (label, prof), p.stderr):
            j = json.loads(p.stdout)
            handed.append((j["SecretAccessKey"], j["SessionToken"]))
    if not tap.is_(len(front.signatures), 2, "%s: two STS calls were signed" % label) or \
            len(handed) != 2:
        return
    needles = {
        "session tokens": [v for _, t in handed for v in variants(t)],
        "secret keys": [v for s, _ in handed for v in variants(s)],
        "STS XML": None,
        "Signature=": [sig.encode() for sig in front.signatures],
        "source secret": variants(seed["secret_access_key"]),
        "control": [seed["roles"]["prod-admin"].encode()],
    }
    secret_kinds = ("session tokens", "secret keys", "STS XML", "Signature=")

    dd = dontdump_mappings(d.proc.pid)
    heap = [(n, f) for n, f in dd if n >= (1 << 20)]
    tap.ok(heap, "%s: the daemon has a secure heap (a MADV_DONTDUMP mapping of >= 1 MiB)" % label,
           "dont-dump mappings: %r" % dd)
    for n, f in heap:
        tap.diag("%s: secure heap %d KiB, %s" % (label, n // 1024,
                                                 "locked" if "lo" in f else "NOT locked"))
    res = {"before": gcore(run, d.proc.pid, "core-before", False, needles),
           "before, all": gcore(run, d.proc.pid, "core-before-all", True, needles)}
    p = krtest.run_client(["forget", "--all"], env=env, timeout=60)
    tap.ok(p.returncode == 0, "%s: keyrole forget --all" % label, p.stderr)
    res["after"] = gcore(run, d.proc.pid, "core-after", False, needles)
    res["after, all"] = gcore(run, d.proc.pid, "core-after-all", True, needles)
    for k, v in res.items():
        tap.diag("%s, %s: %s" % (label, k, ", ".join(
            "%s %d" % (n, c[0]) + (" (+%d in registers)" % c[1] if c[1] else "")
            for n, c in v.items())))
    mem = {k: {n: c[0] for n, c in v.items()} for k, v in res.items()}

    # Controls: the cores hold the heap, and the needles are found where secrets are.
    tap.ok(all(v["control"] >= 1 for v in mem.values()),
           "%s: control: every core holds the heap (the role ARN from the config)" % label)
    tap.ok(mem["before, all"]["session tokens"] >= 2 and mem["before, all"]["secret keys"] >= 2,
           "%s: control: with the secure heap included, the cached tokens and keys are found"
           % label)
    # The claims, on the memory in the cores.
    for k in secret_kinds:
        tap.is_(mem["before"][k], 0, "%s: before forget, no copy of the %s outside the secure heap"
                % (label, k))
    for k in secret_kinds:
        tap.is_(mem["after, all"][k], 0, "%s: after forget --all, no copy of the %s anywhere, "
                "secure heap included" % (label, k))
    tap.ok(mem["before"]["source secret"] == 0 and mem["after"]["source secret"] == 0 and
           mem["after, all"]["source secret"] <= 1,
           "%s: the source secret key has no copy but the credentials file's parse cache, "
           "in the secure heap" % label,
           "before %d, after (all mappings) %d" % (mem["before"]["source secret"],
                                                   mem["after, all"]["source secret"]))


def is_sanitized():
    with open(krtest.keyroled(), "rb") as f:
        return b"__asan_init" in f.read()


def main(tap, run):
    krtest.require_file(krtest.keyroled(), "keyroled")
    if not krtest.is_root():
        raise krtest.Skip("needs root (gdb attaches to a non-dumpable daemon)")
    if not shutil.which("gdb", path=krtest.CALLER_ENV.get("PATH")):
        raise krtest.Skip("gdb not installed (apt-get install gdb)")
    if is_sanitized():
        raise krtest.Skip("sanitizer build: ASan's shadow memory makes cores of many GiB")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=["kr-test"])
    for tls in (False, True):
        with tap.test("%s: secrets in cores counted" % ("https" if tls else "http")):
            measure(tap, run, seed, moto, tls)


krtest.main(main)
