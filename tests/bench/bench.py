#!/usr/bin/env python3
"""keyrole benchmarks (`make bench`): one table, every figure measured side by
side in the same run, printed and written as Markdown to doc/bench.md.

What runs, all started here and stopped by PID at the end:
  moto_server (STS) on 127.0.0.1, a counting FaultProxy in front of it,
  keyroled (memory cache, default log level), the C echo server.
The C helpers come from $KR_BUILD/bench/ (tests/bench/*.c):
  spawn        fresh processes of several commands, interleaved, timed
  herd         N processes released at the same instant, timed
  load         64 client threads, one connection per request
  echo_server  the trivial frame-protocol server: throughput's floor

These machines are noisy, so the table gives medians, p95/p99 and ratios of
figures taken in the same run, never a lone absolute time. A missed target
prints "NOT met" but does not fail: a benchmark is not a test.

Usage: python3 tests/bench/bench.py [--quick] [--out FILE | --no-write]
  --quick   small counts, for trying the script out (the table says so)

Secrets: the moto keys and the credentials the daemon hands out never reach
stdout, stderr or the Markdown; the children's stdout goes to /dev/null and
the echo server's canned reply is synthetic.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-bench"
PY = sys.executable
AWS1 = os.path.join(os.path.dirname(PY), "aws")  # pip AWS CLI v1 next to this python

# Counts; --quick divides them. The task's floors: 500 spawns, 20 CLI runs.
FULL = {
    "spawn": 500,
    "boto": 200,
    "boto_cold": 40,
    "cli": 20,
    "herd": (50, 200, 1000),
    "py_herd_cap": 200,
    "load_rounds": 3,
    "load_secs": 2,
    "mem_profiles": 1000,
}
QUICK = {
    "spawn": 50,
    "boto": 20,
    "boto_cold": 5,
    "cli": 3,
    "herd": (50, 200),
    "py_herd_cap": 50,
    "load_rounds": 1,
    "load_secs": 1,
    "mem_profiles": 100,
}

BOTO_LOOP = r"""
import json, sys, time
import botocore.session
from botocore.credentials import JSONFileCache

n, n_cold, cache_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cache = JSONFileCache(cache_dir)

def fetch(profile, with_cache=False):
    s = botocore.session.Session(profile=profile)
    if with_cache:
        # What the AWS CLI does for its ~/.aws/cli/cache; botocore alone has no file cache.
        s.get_component("credential_provider").get_provider("assume-role").cache = cache
    f = s.get_credentials().get_frozen_credentials()
    if not f.access_key:
        raise SystemExit("no credentials for " + profile)

variants = [("keyrole", lambda: fetch("kr-prod-admin")),
            ("static", lambda: fetch("dev")),
            ("assume_cold", lambda: fetch("prod-admin")),
            ("assume_warm", lambda: fetch("prod-admin", True))]
for _, fn in variants:  # warm-up: imports, page cache, and fills the JSON file cache
    fn()
res = {k: [] for k, _ in variants}
for i in range(n):
    for k, fn in variants:
        if k == "assume_cold" and i >= n_cold:
            continue
        t0 = time.perf_counter_ns()
        fn()
        res[k].append(time.perf_counter_ns() - t0)
print(json.dumps(res))
"""

PY_HERD = ("import sys, botocore.session\n"
           "f = botocore.session.Session(profile=sys.argv[1]).get_credentials()"
           ".get_frozen_credentials()\n"
           "sys.exit(0 if f.access_key else 1)\n")


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Statistics and formatting


def pct(xs, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(ns):
    return "%.2f ms" % (ns / 1e6)


def ms_short(ns):
    v = ns / 1e6
    return "%.0f" % v if v >= 100 else ("%.1f" % v if v >= 10 else "%.2f" % v)


def dist(ns_list):
    """'median X ms, p95 Y ms' for nanosecond samples."""
    return "median %s, p95 %s" % (ms(statistics.median(ns_list)), ms(pct(ns_list, 95)))


def lat3(ns_list):
    """'p50/p99/max A/B/C ms'."""
    return "p50/p99/max %s/%s/%s ms" % (ms_short(pct(ns_list, 50)), ms_short(pct(ns_list, 99)),
                                       ms_short(max(ns_list)))


class Table:
    """Rows of (measurement, keyrole, comparison, ratio, target) + target lines."""

    def __init__(self):
        self.rows = []
        self.targets = []

    def row(self, what, kr, cmp_, ratio="", target=""):
        self.rows.append((what, kr, cmp_, ratio, target))

    def target(self, text, met, value=""):
        verdict = "met" if met else "NOT met"
        self.targets.append("target: %s: %s%s" % (text, verdict,
                                                  " (%s)" % value if value else ""))
        return "%s: **%s**" % (text, verdict) if not met else "%s: met" % text

    def markdown(self):
        head = ["| measurement | keyrole | comparison | ratio | target |",
                "| --- | --- | --- | --- | --- |"]
        body = ["| %s |" % " | ".join(c.replace("|", "\\|") for c in r) for r in self.rows]
        return "\n".join(head + body)


# ---------------------------------------------------------------------------
# Running the C helpers


def bench_bin(name):
    return os.path.join(krtest.build_dir(), "bench", name)


def run_spawn(cmds, runs, env, timeout):
    """Interleaved fresh-process timings -> list (per command) of ns lists."""
    argv = [bench_bin("spawn"), "-n", str(runs)]
    for i, c in enumerate(cmds):
        argv += (["::"] if i else []) + list(c)
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, text=True,
                       timeout=timeout, cwd="/", stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError("spawn failed: " + p.stderr.strip()[-500:])
    out = [[] for _ in cmds]
    bad = [0] * len(cmds)
    for line in p.stdout.splitlines():
        k, ns, st = (int(x) for x in line.split())
        out[k].append(ns)
        bad[k] += st != 0
    for k, b in enumerate(bad):
        if b:
            raise RuntimeError("%s exited non-zero in %d of %d runs"
                               % (" ".join(cmds[k][:3]), b, runs))
    return out


def run_herd(n, cmd, env, timeout):
    """-> (latencies ns of successful children, failures)."""
    argv = [bench_bin("herd"), "-n", str(n), "-t", str(timeout)] + list(cmd)
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, text=True,
                       timeout=timeout + 60, cwd="/", stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError("herd failed: " + p.stderr.strip()[-500:])
    lat, fails = [], 0
    for line in p.stdout.splitlines():
        ns, st = (int(x) for x in line.split())
        if st == 0:
            lat.append(ns)
        else:
            fails += 1
    return lat, fails


def run_load(sock, req_file, clients, secs, warm=1):
    argv = [bench_bin("load"), "-s", sock, "-r", req_file, "-c", str(clients), "-d", str(secs),
            "-w", str(warm)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=secs + warm + 60,
                       cwd="/", stdin=subprocess.DEVNULL, env=krtest.clean_env())
    if p.returncode != 0:
        raise RuntimeError("load failed: " + p.stderr.strip()[-500:])
    return json.loads(p.stdout)


def raw_request(sock_path, obj, timeout=30.0):
    """One frame to the daemon -> (reply body length, parsed reply)."""
    body = json.dumps(obj).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(struct.pack(">I", len(body)) + body)
        hdr = krtest._recv_exact(s, 4)
        (n,) = struct.unpack(">I", hdr)
        if n == 0 or n > 4 * 1024 * 1024:
            raise ValueError("bad reply length %d" % n)
        return n, json.loads(krtest._recv_exact(s, n))


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def pss_kib(pid):
    """(Pss, private) of a process in KiB, from /proc/PID/smaps_rollup: what it
    costs the machine, shared libraries counted by their share only."""
    vals = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                vals[parts[0][:-1]] = int(parts[1])
    return vals.get("Pss", 0), vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)


def ssh_agent_pss(run):
    """ssh-agent started and idle, measured the same way (None when it is missing)."""
    exe = shutil.which("ssh-agent")
    if not exe:
        return None
    sock = os.path.join(run.mkdtemp("ssh-"), "agent.sock")
    p = subprocess.Popen([exe, "-D", "-a", sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=krtest.clean_env(), cwd="/")
    try:
        krtest.wait_until(lambda: p.poll() is not None or os.path.exists(sock), timeout=10)
        time.sleep(0.2)
        return pss_kib(p.pid)
    finally:
        krtest.stop_process(p)


def sts_calls(daemon):
    return daemon.request({"v": 1, "op": "status"})["counters"]["sts_calls"]


# ---------------------------------------------------------------------------
# The benchmarks


def bench_spawn(t, cfg, env):
    log("fresh processes: /bin/true vs cached keyrole get (%d each, interleaved)" % cfg["spawn"])
    true_ns, kr_ns = run_spawn([["/bin/true"], [krtest.keyrole(), "get", "prod-admin"]],
                               cfg["spawn"], env, timeout=300)
    ratio = statistics.median(kr_ns) / statistics.median(true_ns)
    tgt = t.target("≤ 1.2 × /bin/true (median)", ratio <= 1.2, "%.2f×" % ratio)
    t.row("cached `keyrole get`, fresh process each (n=%d each, interleaved)" % cfg["spawn"],
          dist(kr_ns), "`/bin/true`: " + dist(true_ns),
          "%.2f× (p95 %.2f×; +%s)" % (ratio, pct(kr_ns, 95) / pct(true_ns, 95),
                                       ms(statistics.median(kr_ns) - statistics.median(true_ns))),
          tgt)


def bench_botocore(t, cfg, env, run):
    n, n_cold = cfg["boto"], cfg["boto_cold"]
    log("botocore in one process: %d fetches per variant (%d cold assume-role)" % (n, n_cold))
    cache_dir = run.mkdtemp("boto-cache-")
    p = subprocess.run([PY, "-c", BOTO_LOOP, str(n), str(n_cold), cache_dir],
                       env=krtest.clean_env(env), capture_output=True, text=True, timeout=600,
                       cwd="/", stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError("botocore loop failed: " + p.stderr.strip()[-800:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    kr = statistics.median(res["keyrole"])
    what = ("botocore `Session(profile).get_credentials().get_frozen_credentials()`, "
            "new Session each (n=%d)" % n)
    r = kr / statistics.median(res["static"])
    t.row(what, "credential_process: " + dist(res["keyrole"]),
          "static keys in credentials file: " + dist(res["static"]), "%.2f×" % r,
          t.target("≤ 1.5 × static keys", r <= 1.5, "%.2f×" % r))
    t.row(what, "credential_process", "botocore assume-role, cold, 2 STS calls (n=%d): %s"
          % (len(res["assume_cold"]), dist(res["assume_cold"])),
          "%.2f×" % (kr / statistics.median(res["assume_cold"])), "—")
    warm = res["assume_warm"]
    t.row(what, "credential_process", "botocore assume-role, JSONFileCache warm: " + dist(warm),
          "%.2f×" % (kr / statistics.median(warm)), "—")


def bench_cli(t, cfg, env, home):
    if not os.access(AWS1, os.X_OK):
        t.row("`aws sts get-caller-identity` (AWS CLI v1)", "not run", "AWS CLI v1 not at " + AWS1)
        t.targets.append("target: within 5% of static keys (median): NOT met (AWS CLI v1 "
                         "missing at " + AWS1 + ")")
        return
    n = cfg["cli"]
    log("AWS CLI v1 get-caller-identity: %d runs x 4 variants, interleaved" % n)
    cli_cache = os.path.join(home, ".aws", "cli", "cache")

    def aws(profile):
        return [AWS1, "sts", "get-caller-identity", "--profile", profile, "--output", "json"]

    # The CLI's own cache would make every run after the first warm: remove it first.
    cold = ["/bin/sh", "-c", 'd=$1; shift; rm -rf "$d" && exec "$@"', "sh", cli_cache]
    cold += aws("prod-admin")
    kr, st, warm, cold_ns = run_spawn([aws("kr-prod-admin"), aws("dev"), aws("prod-admin"), cold],
                                      n, env, timeout=600)
    what = "`aws sts get-caller-identity` end to end, AWS CLI v1 (n=%d each, interleaved)" % n
    r = statistics.median(kr) / statistics.median(st)
    t.row(what, "credential_process: " + dist(kr), "static keys: " + dist(st), "%.3f×" % r,
          t.target("within 5% of static keys (median)", r <= 1.05, "%.3f×" % r))
    t.row(what, "credential_process", "CLI assume-role, ~/.aws/cli/cache warm: " + dist(warm),
          "%.3f×" % (statistics.median(kr) / statistics.median(warm)), "—")
    t.row(what, "credential_process", "CLI assume-role, cache removed first (+ sh, rm): "
          + dist(cold_ns), "%.3f×" % (statistics.median(kr) / statistics.median(cold_ns)), "—")


def bench_herd(t, cfg, env, daemon, proxy):
    for n in cfg["herd"]:
        log("herd: %d keyrole clients on a cold two-hop chain" % n)
        daemon.request({"v": 1, "op": "forget", "all": True})
        proxy.reset_counts()
        before = sts_calls(daemon)
        lat, fails = run_herd(n, [krtest.keyrole(), "get", "prod-admin"], env, timeout=120)
        calls = proxy.count("AssumeRole")
        dcalls = sts_calls(daemon) - before
        ok = calls == 2 and dcalls == 2 and fails == 0
        kr = "`keyrole get`: STS calls %d (daemon counted %d), %s%s" % (
            calls, dcalls, lat3(lat) if lat else "no successes",
            ", %d failed" % fails if fails else "")
        if n <= cfg["py_herd_cap"]:
            # Python's start-up and imports dominate a Python herd, so compare like with
            # like: the same herd of botocore processes, through keyrole and on its own.
            log("herd: %d python botocore processes through keyrole (cold)" % n)
            daemon.request({"v": 1, "op": "forget", "all": True})
            proxy.reset_counts()
            klat, kfails = run_herd(n, [PY, "-c", PY_HERD, "kr-prod-admin"], env, timeout=300)
            kcalls = proxy.count("AssumeRole")
            kr += "; as %d botocore processes: STS calls %d, %s%s" % (
                n, kcalls, lat3(klat) if klat else "no successes",
                ", %d failed" % kfails if kfails else "")
            ok = ok and kcalls == 2 and kfails == 0
            log("herd: %d python botocore processes, own assume-role" % n)
            proxy.reset_counts()
            plat, pfails = run_herd(n, [PY, "-c", PY_HERD, "prod-admin"], env, timeout=300)
            cmp_ = "%d botocore processes, own assume-role: STS calls %d, %s%s" % (
                n, proxy.count("AssumeRole"), lat3(plat) if plat else "no successes",
                ", %d failed" % pfails if pfails else "")
            ratio = ("botocore p50 %.2f×" % (pct(klat, 50) / pct(plat, 50))
                     if klat and plat else "")
        else:
            cmp_ = ("botocore herd not run: capped at %d Python processes on this %d-core box"
                    % (cfg["py_herd_cap"], os.cpu_count() or 0))
            ratio = ""
        t.row("herd: %d clients at once, cold two-hop chain (forget --all before each)" % n,
              kr, cmp_, ratio,
              t.target("exactly 2 STS calls at N=%d" % n, ok,
                       "%d via proxy, %d by daemon, %d failed" % (calls, dcalls, fails)))


def bench_throughput(t, cfg, env, daemon, run):
    log("throughput: 64 clients, connection per request, echo server vs keyroled")
    envd = {k: env[k] for k in ("HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                                "AWS_ENDPOINT_URL_STS") if k in env}
    req = {"v": 1, "op": "get", "profile": "prod-admin", "env": envd}  # what `keyrole get` sends
    req_file = run.path("request.json")
    with open(req_file, "w") as f:
        json.dump(req, f, separators=(",", ":"))
    size, reply = raw_request(daemon.socket, req)
    if not reply.get("ok"):
        raise RuntimeError("daemon did not answer the throughput request: %s"
                           % reply.get("error"))
    # A synthetic reply of the same size: same shape, no real secret.
    fake = {"v": 1, "ok": True, "AccessKeyId": "ASIA" + "X" * 16,
            "SecretAccessKey": "x" * 40, "SessionToken": "", "Expiration":
            "2030-01-01T00:00:00Z", "from": "memory"}
    fake["SessionToken"] = "t" * max(1, size - len(json.dumps(fake, separators=(",", ":"))))
    reply_file = run.path("echo-reply.json")
    with open(reply_file, "w") as f:
        json.dump(fake, f, separators=(",", ":"))
    esock = os.path.join(run.mkdtemp("echo-"), "echo.sock")
    echo = subprocess.Popen([bench_bin("echo_server"), "-s", esock, "-r", reply_file],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd="/", env=krtest.clean_env())
    run.add_cleanup(krtest.stop_process, echo)
    if not krtest.wait_until(lambda: echo.poll() is not None or krtest.socket_accepts(esock),
                             timeout=10) or echo.poll() is not None:
        raise RuntimeError("echo_server did not start")
    er, dr = [], []
    for _ in range(cfg["load_rounds"]):
        er.append(run_load(esock, req_file, 64, cfg["load_secs"]))
        dr.append(run_load(daemon.socket, req_file, 64, cfg["load_secs"]))
    krtest.stop_process(echo)
    errs = sum(x["errors"] for x in dr + er)

    def med(rs, key):
        return statistics.median(x[key] for x in rs)

    ratio = med(dr, "rps") / med(er, "rps") if med(er, "rps") else 0.0
    t.row("cached answers/s, 64 concurrent clients, one connection per request (%d rounds of "
          "%d s, interleaved; reply %d bytes)" % (cfg["load_rounds"], cfg["load_secs"], size),
          "%.0f/s, p99 %.2f ms%s" % (med(dr, "rps"), med(dr, "p99_us") / 1000,
                                     ", %d errors" % errs if errs else ""),
          "C echo server (epoll, canned reply): %.0f/s, p99 %.2f ms"
          % (med(er, "rps"), med(er, "p99_us") / 1000), "%.2f×" % ratio,
          t.target("≥ 0.9 × echo server", ratio >= 0.9 and errs == 0, "%.2f×" % ratio))


def bench_memory(t, cfg, seed, moto, run):
    n = cfg["mem_profiles"]
    log("memory: fresh daemon, then %d cached role profiles (%d AssumeRole calls to moto)"
        % (n, n))
    home = run.home("mem")
    parts = ["[profile dev]\nregion = %s\n" % krtest.REGION]
    for i in range(n):
        parts.append("[profile r%04d]\nrole_arn = %s\nsource_profile = dev\n"
                     "role_session_name = %s-%04d\nregion = %s\n"
                     % (i, seed["roles"]["prod"], SESSION, i, krtest.REGION))
    creds = "[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
        seed["access_key_id"], seed["secret_access_key"])
    krtest.write_aws_config(home, "\n".join(parts), creds)
    d = run.daemon(home, log_level="notice")
    d.request({"v": 1, "op": "ping"})
    time.sleep(0.2)
    idle = vmrss_kib(d.proc.pid)
    idle_pss, idle_private = pss_kib(d.proc.pid)
    ssh = ssh_agent_pss(run)
    envd = {"HOME": home, "AWS_CONFIG_FILE": os.path.join(home, ".aws", "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, ".aws", "credentials"),
            "AWS_ENDPOINT_URL_STS": moto.url}
    errors = []
    lock = threading.Lock()
    todo = list(range(n))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            try:
                r = d.request({"v": 1, "op": "get", "profile": "r%04d" % i, "env": envd},
                              timeout=120)
                if not r.get("ok"):
                    with lock:
                        errors.append(r.get("error"))
            except OSError as e:
                with lock:
                    errors.append(str(e))

    t0 = time.monotonic()
    ths = [threading.Thread(target=worker) for _ in range(16)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(600)
    fill_s = time.monotonic() - t0
    st = d.request({"v": 1, "op": "status"})
    entries = len(st.get("entries", []))
    full = vmrss_kib(d.proc.pid)
    d.stop()
    t.row("keyroled RSS (VmRSS), memory cache", "idle: %.1f MiB" % (idle / 1024.0), "—", "",
          "—")
    t.row("keyroled PSS and private memory (smaps_rollup), idle, memory cache",
          "PSS %.1f MiB, private %.1f MiB" % (idle_pss / 1024.0, idle_private / 1024.0),
          "ssh-agent, idle: PSS %.1f MiB, private %.1f MiB" % (ssh[0] / 1024.0, ssh[1] / 1024.0)
          if ssh else "ssh-agent not installed",
          "PSS %.1f×" % (idle_pss / float(ssh[0])) if ssh and ssh[0] else "", "—")
    t.row("keyroled RSS with %d cached role profiles (filled in %.0f s%s)"
          % (entries, fill_s, ", %d errors" % len(errors) if errors else ""),
          "%.1f MiB" % (full / 1024.0),
          "idle + %.1f KiB per cached profile" % ((full - idle) / max(1, entries)), "", "—")


# ---------------------------------------------------------------------------


def environment_line():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    vers = []
    try:
        import botocore
        vers.append("botocore %s" % botocore.__version__)
    except ImportError:
        pass
    try:
        p = subprocess.run([AWS1, "--version"], capture_output=True, text=True, timeout=30,
                           env=krtest.clean_env())
        vers.append((p.stdout or p.stderr).split()[0].replace("/", " "))
    except (OSError, IndexError, subprocess.TimeoutExpired):
        pass
    try:
        import moto
        vers.append("moto %s" % moto.__version__)
    except ImportError:
        pass
    commit = ""
    try:
        p = subprocess.run(["git", "-C", krtest.repo_root(), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10)
        commit = p.stdout.strip()
    except OSError:
        pass
    return ("%s; %d CPU(s)%s; Linux %s; Python %s; %s; keyrole at commit %s (+ working tree)"
            % (datetime.date.today().isoformat(), os.cpu_count() or 0,
               " (%s)" % cpu if cpu else "", platform.release(), platform.python_version(),
               ", ".join(vers), commit or "?"))


NOTES = """\
How to read it: ratio is keyrole's figure divided by the comparison's (for
times lower is better; for throughput higher is better). Everything in one row
was measured in the same run, interleaved where it says so, because absolute
times on these machines drift by tens of percent from run to run.

- STS is moto_server on 127.0.0.1 behind the counting proxy of
  tests/lib/fault_proxy.py: "cold" figures measure moto's speed (tens of
  milliseconds per AssumeRole on a small box), not real STS's.
- Fresh-process timings are taken by tests/bench/spawn.c (posix_spawn to
  waitpid, stdout on /dev/null); herd latencies by tests/bench/herd.c (from the
  common release to each exit); throughput by tests/bench/load.c (64 threads,
  connect/send/receive/close per request) against keyroled and against
  tests/bench/echo_server.c, which answers a canned reply of the same size.
- Herds of Python processes are dominated by Python's start-up and the
  botocore imports competing for the cores: compare the two botocore herds
  (through keyrole, and botocore's own assume-role) with each other, not with
  the herd of C clients. They stop at 200 processes: a thousand Pythons at
  once measure the machine, not the credential path.
- The AWS CLI "cache removed first" variant runs through /bin/sh and rm, which
  adds a few milliseconds to it.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts, to try the script")
    ap.add_argument("--out", default=os.path.join(krtest.repo_root(), "doc", "bench.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--only", default="",
                    help="comma-separated benchmarks to run (spawn, botocore, cli, herd, "
                         "throughput, memory); implies --no-write")
    args = ap.parse_args()
    only = set(x for x in args.only.split(",") if x)
    if only:
        args.no_write = True

    def want(name):
        return not only or name in only
    cfg = QUICK if args.quick else FULL
    for exe in (krtest.keyrole(), krtest.keyroled()) + tuple(
            bench_bin(b) for b in ("spawn", "herd", "load", "echo_server")):
        if not os.access(exe, os.X_OK):
            sys.exit("bench: %s is not built (run `make bench`)" % exe)
    if not shutil.which("moto_server", path=krtest.CALLER_ENV.get("PATH")):
        sys.exit("bench: moto_server is not on PATH (pip install 'moto[server]')")

    t = Table()
    run = krtest.Run()
    started = time.monotonic()
    try:
        log("starting moto, the counting proxy and keyroled")
        moto = run.moto()
        seed = krtest.seed_chain(moto, session_names=[SESSION])
        proxy = run.proxy(moto.url)
        home = run.home()
        cfg_text, creds = krtest.chain_config(seed, session_name=SESSION)
        krtest.write_aws_config(home, cfg_text, creds)
        daemon = run.daemon(home, log_level="info")
        env = krtest.aws_env(home, socket_path=daemon.socket, endpoint_url=proxy.url,
                             extra={"KEYROLE_NO_AUTOSTART": "1",
                                    "AWS_EC2_METADATA_DISABLED": "true"})
        p = krtest.run_client(["get", "prod-admin"], env)
        if p.returncode != 0:
            raise RuntimeError("keyrole get prod-admin failed: " + p.stderr.strip()[-500:])

        if want("spawn"):
            bench_spawn(t, cfg, env)
        if want("botocore"):
            bench_botocore(t, cfg, env, run)
        if want("cli"):
            bench_cli(t, cfg, env, home)
        if want("herd"):
            bench_herd(t, cfg, env, daemon, proxy)
        p = krtest.run_client(["get", "prod-admin"], env)  # warm the cache again
        if p.returncode != 0:
            raise RuntimeError("keyrole get prod-admin failed: " + p.stderr.strip()[-500:])
        if want("throughput"):
            bench_throughput(t, cfg, env, daemon, run)
        if want("memory"):
            bench_memory(t, cfg, seed, moto, run)
    finally:
        run.close()

    secs = time.monotonic() - started
    md = ["# keyrole benchmarks", "",
          "Written by `make bench` (tests/bench/bench.py)%s; the whole run took %.0f s." % (
              " with --quick (small counts, not for publishing)" if args.quick else "", secs),
          "", "Machine: " + environment_line() + ".", "", t.markdown(), "", "Targets:", ""]
    md += ["    " + x for x in t.targets]
    md += ["", NOTES]
    text = "\n".join(md)
    print(t.markdown())
    print()
    for x in t.targets:
        print(x)
    if not args.no_write:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        log("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
