"""Reliability under faults: keyroled against moto behind the fault proxy.

- STS faults (Throttling twice, 503, an HTML 500, a dropped connection, a
  3 s delay, endless throttling, STS unreachable): each request ends in
  success within the deadline or in one clear error, and a still-valid
  cached profile keeps being served while STS is down.
- The daemon killed with SIGKILL in the middle of 100 concurrent clients:
  each client succeeds or fails cleanly (non-zero status, empty stdout, one
  line on stderr, no hang), and a restarted daemon serves the next request.
- 10,000 bad frames on the socket (random bytes, truncated frames, huge
  lengths, invalid JSON, wrong versions, unknown operations, odd types): the
  daemon keeps answering pings between batches and its VmRSS stays flat.
- The Secret Service keyring daemon killed mid-run: fetches go on from
  memory and new fetches still succeed.
"""

import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"
# KR_STS_DEADLINE_MS (60 s) bounds one STS call with its retries; add slack.
STS_DEADLINE_S = 65
CLEAR_ERRORS = ("network", "timeout", "aws")


def is_sanitized():
    try:
        with open(krtest.keyroled(), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def get(d, env, profile, timeout=STS_DEADLINE_S + 10):
    """-> (reply dict, seconds)."""
    t0 = time.monotonic()
    r = d.request({"v": 1, "op": "get", "profile": profile, "env": env}, timeout=timeout)
    return r, time.monotonic() - t0


def brief(r):
    """A reply without its secrets, for diagnostics."""
    return json.dumps({k: v for k, v in r.items() if k not in ("SecretAccessKey", "SessionToken")})


def client_clean_failure(res):
    """A failed keyrole run that kept the output contract: -> reason or None."""
    if res.timed_out:
        return "hung (killed after the timeout)"
    if res.rc == 0:
        return "exit status 0"
    if res.stdout != "":
        return "output on stdout (%d bytes)" % len(res.stdout)
    lines = res.stderr.splitlines()
    if len(lines) != 1 or not lines[0].startswith("keyrole"):
        return "stderr is not one 'keyrole: ...' line: %r" % res.stderr[:300]
    return None


def client_success(res):
    if res.rc != 0 or res.timed_out:
        return False
    try:
        j = json.loads(res.stdout)
    except ValueError:
        return False
    return j.get("Version") == 1 and bool(j.get("AccessKeyId")) and bool(j.get("SessionToken"))


def sts_down(proxy):
    """Make STS unreachable: refuse new connections; down() also cuts the
    kept-alive ones, which curl would otherwise reuse."""
    proxy.down(True, mode="refuse")


def sts_errors(d):
    """The daemon's count of failed STS calls by AWS code or error name."""
    return d.request({"v": 1, "op": "status"}).get("counters", {}).get("sts_errors", {})


# ---------------------------------------------------------------------------


def sts_faults(tap, run, seed, proxy, d, env):
    def fresh():
        d.request({"v": 1, "op": "forget", "all": True})
        proxy.clear_faults()
        proxy.clear_delays()
        proxy.reset_counts()

    cases = [
        ("Throttling twice, then success", "throttle", 2),
        ("a 503, then success", "503", 1),
        ("an HTML 500 page, then success", "500html", 1),
        ("a dropped connection, then success", "drop", 1),
    ]
    for name, kind, n in cases:
        with tap.test(name):
            fresh()
            proxy.fail_next(n, kind)
            r, secs = get(d, env, "prod")
            tap.ok(r.get("ok") is True, "%s: answered with credentials" % name, brief(r))
            tap.ok(secs < STS_DEADLINE_S, "%s: within the deadline (%.1f s)" % (name, secs))
            tap.is_(proxy.count("AssumeRole"), n + 1,
                    "%s: %d failed attempts were retried once each" % (name, n))

    with tap.test("a 3 s STS delay"):
        fresh()
        proxy.delay(3.0)
        r, secs = get(d, env, "prod")
        proxy.delay(0)
        tap.ok(r.get("ok") is True, "slow STS: answered with credentials", brief(r))
        tap.ok(3.0 <= secs < 15.0, "slow STS: answered after the delay, well within the "
               "per-attempt limit (%.1f s)" % secs)
        tap.is_(proxy.count("AssumeRole"), 1, "slow STS: not retried while waiting")

    with tap.test("endless throttling ends in one clear error"):
        fresh()
        proxy.fail_next(100, "throttle")
        r, secs = get(d, env, "prod")
        proxy.clear_faults()
        tap.is_(r.get("ok"), False, "endless throttling: a failure reply", brief(r))
        tap.is_(r.get("aws_code"), "Throttling", "endless throttling: names the AWS code")
        tap.ok(bool(r.get("message")) and "\n" not in r.get("message", ""),
               "endless throttling: one-line message", r.get("message"))
        tap.ok(2 <= proxy.count("AssumeRole") <= 6,
               "endless throttling: a bounded number of attempts (%d)" % proxy.count("AssumeRole"))
        tap.ok(secs < STS_DEADLINE_S, "endless throttling: gave up in %.1f s" % secs)

    with tap.test("STS unreachable ends in one clear error"):
        fresh()
        before = sts_errors(d)
        sts_down(proxy)
        try:
            r, secs = get(d, env, "prod")
            tap.is_(r.get("ok"), False, "unreachable: a failure reply", brief(r))
            tap.ok(r.get("error") in ("network", "timeout"), "unreachable: error is network "
                   "or timeout", brief(r))
            tap.ok(bool(r.get("message")) and "\n" not in r.get("message", ""),
                   "unreachable: one-line message", r.get("message"))
            tap.ok(secs < STS_DEADLINE_S, "unreachable: gave up in %.1f s" % secs)
            # The same through the real client: exit 7, nothing on stdout, one line.
            p = krtest.run_client(["get", "prod"],
                                  env=dict(env, KEYROLE_NO_AUTOSTART="1"),
                                  timeout=STS_DEADLINE_S + 10)
            tap.is_(p.returncode, 7, "unreachable: keyrole get exits 7 (network)", p.stderr)
            tap.is_(p.stdout, "", "unreachable: keyrole get prints nothing on stdout")
            tap.is_(len(p.stderr.splitlines()), 1, "unreachable: one line on stderr", p.stderr)
            errs = sts_errors(d)
            new = {k: v - before.get(k, 0) for k, v in errs.items() if v != before.get(k, 0)}
            tap.ok(bool(new) and set(new) <= {"network", "timeout"},
                   "unreachable: status counts the failures by error name", errs)
        finally:
            proxy.down(False)

    with tap.test("a still-valid cached profile is served while STS is down"):
        fresh()
        r1, _ = get(d, env, "prod-admin")
        tap.ok(r1.get("ok") is True, "fetched while STS is up", brief(r1))
        sts_down(proxy)
        try:
            for profile in ("prod-admin", "prod"):
                r2, secs = get(d, env, profile)
                tap.ok(r2.get("ok") is True, "%s answered while STS is down" % profile,
                       brief(r2))
                tap.is_(r2.get("from"), "memory", "%s came from memory" % profile)
                tap.ok(secs < 1.0, "%s answered at once (%.3f s)" % (profile, secs))
            r3, _ = get(d, env, "prod-admin")
            tap.is_(r3.get("AccessKeyId"), r1.get("AccessKeyId"),
                    "the same credentials as before STS went down")
        finally:
            proxy.down(False)
        tap.ok(d.alive(), "daemon alive after the STS faults")


def sigkill_mid_herd(tap, run, seed, proxy, home):
    with tap.test("SIGKILL in the middle of 100 concurrent requests"):
        sockdir = run.mkdtemp("sock-kill-")
        d = krtest.Daemon(None, home, sockdir, run=run).start()
        run.adopt(d)
        env = krtest.aws_env(home, d.socket, proxy.url, extra={"KEYROLE_NO_AUTOSTART": "1"})
        proxy.clear_faults()
        proxy.reset_counts()
        proxy.delay(2.0)  # every request waits on STS when the daemon dies
        out = {}

        def herd():
            cmds = [[krtest.keyrole(), "get", "prod-admin"] for _ in range(100)]
            out["res"] = krtest.start_many(cmds, env=env, timeout=90)

        t = threading.Thread(target=herd)
        t.start()
        arrived = proxy.wait_for(1, timeout=60)  # a loaded sanitizer run is slow
        time.sleep(0.3)  # let the rest of the herd connect and wait
        pid = d.proc.pid
        os.kill(pid, signal.SIGKILL)
        t.join(120)
        proxy.delay(0)
        tap.ok(arrived, "the daemon was calling STS when it was killed")
        rc = d.stop()
        tap.is_(rc, -signal.SIGKILL, "the daemon died of SIGKILL")
        res = out.get("res") or []
        tap.is_(len(res), 100, "all 100 clients finished")
        ok = [r for r in res if client_success(r)]
        bad = [(i, client_clean_failure(r)) for i, r in enumerate(res)
               if not client_success(r) and client_clean_failure(r)]
        tap.ok(not bad, "every client succeeded or failed cleanly (%d succeeded, %d failed)"
               % (len(ok), len(res) - len(ok)), "; ".join("#%d: %s" % b for b in bad[:5]))
        tap.ok(all(not r.timed_out for r in res), "no client hung")
        codes = {}
        for r in res:
            codes[r.rc] = codes.get(r.rc, 0) + 1
        tap.diag("exit statuses: %s" % json.dumps(codes, sort_keys=True))

        d2 = krtest.Daemon(None, home, sockdir, run=run).start()
        run.adopt(d2)
        p = krtest.run_client(["get", "prod-admin"], env=env, timeout=STS_DEADLINE_S)
        tap.ok(p.returncode == 0 and '"AccessKeyId"' in p.stdout,
               "after a restart the next request succeeds", p.stderr)


# ---------------------------------------------------------------------------
# Bad input on the socket


def bad_frames(rng, n):
    """n bad (or odd) request frames, deterministic for one rng."""
    def frame(body):
        return struct.pack(">I", len(body)) + body

    kinds = []
    for i in range(n):
        k = i % 12
        if k == 0:  # random bytes, random length
            b = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 48)))
        elif k == 1:  # truncated: announces more than it sends
            body = b'{"v":1,"op":"get","profile":"prod"}'
            b = struct.pack(">I", len(body) + rng.randint(1, 1000)) + body[:rng.randint(0, 20)]
        elif k == 2:  # huge length, some body
            b = struct.pack(">I", rng.choice([0xFFFFFFFF, 0x80000000, 64 * 1024 + 1,
                                              4 * 1024 * 1024])) + b"{}"
        elif k == 3:  # zero length
            b = struct.pack(">I", 0) + (b"{}" if rng.random() < 0.5 else b"")
        elif k == 4:  # invalid JSON
            b = frame(rng.choice([b"{", b"nul", b'{"v":1,', b"\xff\xfe", b'{"v":1}}}',
                                  b'[{"v":1}]', b'"v"', b"\x00\x00\x00\x00"]))
        elif k == 5:  # wrong versions
            b = frame(json.dumps({"v": rng.choice([0, 2, -1, 1.5, "1", None, [1], 1e308]),
                                  "op": "ping"}).encode())
        elif k == 6:  # unknown operations
            b = frame(json.dumps({"v": 1, "op": rng.choice(["", "GET", "x" * 300, "ping\u0000",
                                                            "\u00e9", "get ", 5])}).encode())
        elif k == 7:  # odd member types
            b = frame(json.dumps({"v": 1, "op": rng.choice(["get", "check", "forget", "add",
                                                            "remove", "status"]),
                                  "profile": rng.choice([{}, [], 5, None, "", "a" * 5000,
                                                         "\u0001"]),
                                  "env": rng.choice([{}, [], "x", 5, {"HOME": 5},
                                                     {"K%d" % j: "v" for j in range(100)}]),
                                  "all": rng.choice([True, "yes", 1])}).encode())
        elif k == 8:  # deep nesting
            depth = rng.choice([100, 1000, 5000])
            b = frame(b'{"v":1,"op":"ping","x":' + b"[" * depth + b"]" * depth + b"}")
        elif k == 9:  # a frame header split and then abandoned
            b = struct.pack(">I", 10)[:rng.randint(1, 3)]
        elif k == 10:  # two frames in one connection (only one request per connection)
            body = json.dumps({"v": 1, "op": "ping"}).encode()
            b = frame(body) + frame(body)
        else:  # garbage after a valid frame's length
            b = frame(b'{"v":1,"op":"version"}') + bytes(rng.getrandbits(8) for _ in range(16))
        kinds.append(b)
    return kinds


def send_one(path, data, read_reply):
    """Send data, close our side, read until EOF (bounded). -> reply bytes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5.0)
        s.connect(path)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the daemon closed first (e.g. a huge length): fine
        if not read_reply:
            return b""
        got = b""
        try:
            while len(got) < 1 << 20:
                c = s.recv(65536)
                if not c:
                    break
                got += c
        except (socket.timeout, ConnectionResetError):
            pass
        return got


def parse_replies(got):
    """-> (number of well-formed reply frames, problem or None)."""
    n = 0
    while got:
        if len(got) < 4:
            return n, "a partial frame header"
        (ln,) = struct.unpack(">I", got[:4])
        if ln == 0 or len(got) < 4 + ln:
            return n, "a truncated reply frame"
        try:
            j = json.loads(got[4:4 + ln])
        except ValueError:
            return n, "a reply that is not JSON"
        if not isinstance(j, dict) or j.get("v") != 1 or "ok" not in j:
            return n, "a reply without v/ok: %r" % j
        n += 1
        got = got[4 + ln:]
    return n, None


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bad_input(tap, run, home, sanitized):
    with tap.test("10,000 bad frames: the daemon keeps serving and does not grow"):
        sockdir = run.mkdtemp("sock-bad-")
        extra = {}
        if sanitized:  # ASan's quarantine would look like growth
            extra["ASAN_OPTIONS"] = "quarantine_size_mb=4:" + krtest.CALLER_ENV.get(
                "ASAN_OPTIONS", "")
        d = run.adopt(krtest.Daemon(None, home, sockdir, run=run, log_level="warning",
                                    env=extra).start())
        rng = random.Random(20261122)
        total, batches, per = 0, 10, 1000
        problems, replies, pings_ok = [], 0, 0
        rss = []
        t0 = time.monotonic()
        for b in range(batches):
            frames = bad_frames(rng, per)
            for i, data in enumerate(frames):
                # Every 7th client goes away without reading its answer.
                got = send_one(d.socket, data, read_reply=(i % 7 != 0))
                n, why = parse_replies(got)
                replies += n
                if why and len(problems) < 5:
                    problems.append("frame %d.%d: %s" % (b, i, why))
                total += 1
            r = d.request({"v": 1, "op": "ping"}, timeout=5)
            pings_ok += 1 if r.get("ok") is True else 0
            rss.append(vm_rss_kb(d.proc.pid))
            if time.monotonic() - t0 > 120:
                break
        secs = time.monotonic() - t0
        tap.is_(total, batches * per, "sent %d bad frames in %.1f s" % (total, secs))
        tap.is_(pings_ok, batches, "a ping between every batch of %d was answered" % per)
        tap.ok(not problems, "every reply that came was a well-formed frame (%d replies)"
               % replies, "\n".join(problems))
        tap.ok(d.alive(), "the daemon is still running")
        # Warm-up: the first two batches fill caches and allocator arenas.
        margin = 8192 if sanitized else 2048
        grow = rss[-1] - rss[1] if len(rss) > 2 else 0
        tap.ok(grow <= margin, "VmRSS after the warm-up grew by %d KiB (<= %d KiB)"
               % (grow, margin), "VmRSS per batch (KiB): %s" % rss)
        r = d.request({"v": 1, "op": "version"})
        tap.is_(r.get("ok"), True, "still answers normal requests")


# ---------------------------------------------------------------------------


def keyring_killed(tap, run, seed, proxy):
    with tap.test("the keyring daemon killed mid-run: fetches continue from memory"):
        ks = run.keyring()
        home = run.home("kr-home")
        cfg, creds = krtest.chain_config(seed)
        krtest.write_aws_config(home, cfg, creds)
        sockdir = run.mkdtemp("sock-kr-")
        d = run.adopt(krtest.Daemon(None, home, sockdir, run=run, cache="secret-service",
                                    env=ks.env()).start())
        env = krtest.aws_env(home, d.socket, proxy.url)
        st = d.request({"v": 1, "op": "status"})
        tap.is_(st.get("backend"), "secret-service", "the daemon uses the Secret Service",
                json.dumps({k: st.get(k) for k in ("backend", "warning")}))
        r1, _ = get(d, env, "prod")
        tap.ok(r1.get("ok") is True, "fetched with the keyring up", brief(r1))
        time.sleep(0.5)  # the keyring store happens off the request path
        gk = ks.gk
        gk.kill()
        gk.wait(5)
        tap.ok(gk.poll() is not None, "gnome-keyring-daemon is gone")
        r2, secs = get(d, env, "prod", timeout=30)
        tap.ok(r2.get("ok") is True and r2.get("from") == "memory",
               "a cached profile still comes from memory", brief(r2))
        tap.ok(secs < 1.0, "at once (%.3f s)" % secs)
        r3, secs = get(d, env, "prod-admin", timeout=STS_DEADLINE_S)
        tap.ok(r3.get("ok") is True, "a new fetch still succeeds without the keyring (%.1f s)"
               % secs, brief(r3))
        r4 = d.request({"v": 1, "op": "status"}, timeout=30)
        tap.ok(r4.get("ok") is True, "status answers", brief(r4))
        tap.ok(d.alive(), "keyroled survived the keyring's death")


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    proxy = run.proxy(moto.url)
    home = run.home()
    cfg, creds = krtest.chain_config(seed)
    krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, proxy.url)

    sts_faults(tap, run, seed, proxy, d, env)
    sigkill_mid_herd(tap, run, seed, proxy, home)
    bad_input(tap, run, home, is_sanitized())
    keyring_killed(tap, run, seed, proxy)


krtest.main(main)
