"""Secrets reach no log, no file and no core dump.

A full scenario against moto (auth on): fetch chains with the real client,
run status/check/env, restart the daemon and fetch again, once with the
memory cache and once with the Secret Service (whose keyring file lives in
the test HOME). Then every secret that was handed out (the source secret
key, every temporary secret key and session token, in raw and
percent-encoded form) is searched for, byte for byte:

- in the daemon's log output and in the output of status and check;
- in every file under the test dirs (HOMEs, runtime dirs, logs) and under
  /tmp and /dev/shm; the only file allowed to hold one is the source
  secret's own ~/.aws/credentials;
- in core files: a daemon holding credentials is killed with SIGQUIT (a
  core-dumping signal) with RLIMIT_CORE raised first, in a directory where
  the kernel would write "core"; no core file may appear (the daemon makes
  itself non-dumpable), and a control process shows that the same setup
  does produce cores.
"""

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SCAN_FILE_MAX = 64 * 1024 * 1024  # bigger files are not ours (build products)
SCAN_TIME_MAX = 60.0  # seconds for one tree walk


def variants(secrets):
    """Each secret as raw bytes and percent-encoded (as in a form body)."""
    out = set()
    for s in secrets:
        if not s or len(s) < 8:
            continue
        out.add(s.encode())
        out.add(urllib.parse.quote(s, safe="").encode())
        out.add(urllib.parse.quote_plus(s, safe="").encode())
    return sorted(out)


def scan_tree(root, needles, skip=(), deadline=None):
    """-> list of (path, index of the needle) for regular files under root
    holding any needle. Symlinks are not followed; unreadable files are
    skipped. Bounded by SCAN_FILE_MAX per file and the deadline."""
    hits = []
    deadline = deadline or time.monotonic() + SCAN_TIME_MAX
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if time.monotonic() > deadline:
            hits.append((dirpath, "scan stopped: time limit"))
            break
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if p in skip:
                continue
            try:
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode) or st.st_size > SCAN_FILE_MAX:
                    continue
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for i, n in enumerate(needles):
                if n in data:
                    hits.append((p, i))
                    break
    return hits


def creds_of(stdout):
    j = json.loads(stdout)
    return [j.get("SecretAccessKey"), j.get("SessionToken")]


def scenario(tap, run, seed, moto, label, cache, daemon_env=None):
    """Fetch, inspect, restart, fetch. -> (secrets handed out, daemons, outputs)."""
    home = run.home("sec-" + cache)
    cfg, creds = krtest.chain_config(seed)
    krtest.write_aws_config(home, cfg, creds)
    sockdir = run.mkdtemp("sock-sec-")
    d = run.adopt(krtest.Daemon(None, home, sockdir, run=run, cache=cache, log_level="debug",
                                env=daemon_env).start())
    env = krtest.aws_env(home, d.socket, moto.url, extra={"KEYROLE_NO_AUTOSTART": "1"})
    st = d.request({"v": 1, "op": "status"})
    tap.is_(st.get("backend"), cache, "%s: the daemon uses the %s backend" % (label, cache))
    secrets, outputs = [], []
    for prof in ("prod-admin", "prod", "ops-admin"):
        p = krtest.run_client(["get", prof], env=env, timeout=60)
        if not tap.ok(p.returncode == 0, "%s: keyrole get %s" % (label, prof), p.stderr):
            continue
        secrets += creds_of(p.stdout)
    for args in (["status"], ["check"], ["env", "prod"]):
        p = krtest.run_client(args, env=env, timeout=60)
        if args[0] == "env":
            continue  # prints the credentials by design
        outputs.append(("keyrole " + " ".join(args), p.stdout + p.stderr))
    # A restart: with a persistent cache the new daemon may load from the keyring.
    d.stop()
    d2 = run.adopt(krtest.Daemon(None, home, sockdir, run=run, cache=cache, log_level="debug",
                                 env=daemon_env).start())
    p = krtest.run_client(["get", "prod-admin"], env=env, timeout=60)
    tap.ok(p.returncode == 0, "%s: keyrole get after a restart" % label, p.stderr)
    if p.returncode == 0:
        secrets += creds_of(p.stdout)
    return secrets, [d, d2], outputs


def core_check(tap, run, seed, moto):
    with tap.test("no core file from a daemon holding credentials"):
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        if pattern.startswith("|") or "/" in pattern:
            raise krtest.Skip("core_pattern %r sends cores elsewhere; cannot look for them here"
                              % pattern)
        home = run.home("core")
        cfg, creds = krtest.chain_config(seed)
        krtest.write_aws_config(home, cfg, creds)
        cwd = run.mkdtemp("cores-")

        def raise_core():
            resource.setrlimit(resource.RLIMIT_CORE,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

        def cores():
            return [f for f in os.listdir(cwd) if f.startswith("core")]

        # Control: the same setup makes an ordinary process dump core.
        ctl = subprocess.run(["sh", "-c", "kill -QUIT $$"], cwd=cwd, preexec_fn=raise_core,
                             env=krtest.clean_env(), timeout=30)
        control = cores()
        for f in control:
            os.unlink(os.path.join(cwd, f))
        sockdir = run.mkdtemp("sock-core-")
        sock = os.path.join(sockdir, "agent.sock")
        opts = "disable_coredump=0:" + krtest.CALLER_ENV.get("ASAN_OPTIONS", "")
        p = subprocess.Popen([krtest.keyroled(), "--socket", sock, "--cache", "memory"],
                             cwd=cwd, preexec_fn=raise_core, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=krtest.clean_env({"HOME": home,
                                                   "XDG_RUNTIME_DIR": run.mkdtemp("xdg-"),
                                                   "ASAN_OPTIONS": opts}))
        run.add_cleanup(krtest.stop_process, p)
        krtest.wait_until(lambda: krtest.socket_accepts(sock), 10)
        env = krtest.aws_env(home, sock, moto.url, extra={"KEYROLE_NO_AUTOSTART": "1"})
        g = krtest.run_client(["get", "prod-admin"], env=env, timeout=60)
        tap.ok(g.returncode == 0, "the daemon holds credentials", g.stderr)
        with open("/proc/%d/limits" % p.pid) as f:
            core_limit = [ln for ln in f if ln.startswith("Max core file size")]
        tap.ok(core_limit and core_limit[0].split()[4] == "0",
               "the daemon lowered its core size limit to 0", "".join(core_limit))
        os.kill(p.pid, signal.SIGQUIT)
        rc = p.wait(30)
        tap.is_(rc, -signal.SIGQUIT, "the daemon died of SIGQUIT")
        time.sleep(0.2)
        tap.is_(cores(), [], "no core file was written")
        if ctl.returncode == -signal.SIGQUIT and not control:
            tap.diag("note: the control process wrote no core either (cores may be disabled "
                     "on this machine), so this check is weaker here")
        else:
            tap.ok(bool(control), "control: an ordinary process does dump core here")


def main(tap, run):
    krtest.require_file(krtest.keyroled(), "keyroled")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=["kr-test"])
    all_secrets, daemons, outputs = [], [], []

    with tap.test("scenario with the memory cache"):
        s, ds, outs = scenario(tap, run, seed, moto, "memory", "memory")
        all_secrets += s
        daemons += ds
        outputs += outs

    with tap.test("scenario with the Secret Service cache"):
        ks = run.keyring()
        s, ds, outs = scenario(tap, run, seed, moto, "secret-service", "secret-service",
                               daemon_env=ks.env())
        all_secrets += s
        daemons += ds
        outputs += outs

    core_check(tap, run, seed, moto)

    temp = [x for x in all_secrets if x and x != seed["secret_access_key"]]
    tap.ok(len(temp) >= 8, "collected %d temporary secrets and tokens to look for" % len(temp))
    needles = variants(temp)
    source = variants([seed["secret_access_key"]])

    with tap.test("no secret in the daemons' log output"):
        logs = "".join(d.log_text() for d in daemons).encode()
        tap.ok(len(logs) > 0, "the daemons logged something (debug level)")
        tap.ok(not any(n in logs for n in needles + source), "no secret or token in the logs")

    with tap.test("no secret in status or check output"):
        for name, text in outputs:
            b = text.encode()
            tap.ok(not any(n in b for n in needles + source), "%s prints no secret" % name)

    with tap.test("no file under the test dirs, /tmp or /dev/shm holds a secret"):
        deadline = time.monotonic() + SCAN_TIME_MAX
        hits = []
        for root in [run.dir, "/tmp", "/dev/shm"]:
            if os.path.isdir(root):
                hits += scan_tree(root, needles, deadline=deadline)
        # Files of this run are also checked for the source secret, except the
        # ~/.aws/credentials files that hold it by design.
        hits += [(p, "source") for p, _ in scan_tree(run.dir, source, deadline=deadline)
                 if not p.endswith(os.path.join(".aws", "credentials"))]
        hits = sorted(set(h for h in hits))
        tap.is_([h[0] for h in hits], [], "no file holds a secret",
                "; ".join("%s (%s)" % h for h in hits[:10]))


krtest.main(main)
