"""keyroled with real keyrings: the cache survives a SIGKILL (Secret Service
on a private D-Bus, the kernel keyring as root and as an ordinary user),
expired Secret Service sessions are swept, long-term keys from `keyrole add`
serve as a chain's source, a locked or missing keyring (also one locked
while the daemon runs) falls back to memory with a warning and no prompt,
the ordinary user's kernel quota is really hit and survived, and after a
full scenario no secret lands in a file, a log line or the client's output."""

import json
import os
import re
import signal
import urllib.parse
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"


def get(d, env, profile):
    return d.request({"v": 1, "op": "get", "profile": profile, "env": env}, timeout=60)


def brief(r):
    return json.dumps({k: r.get(k) for k in ("ok", "error", "message", "from")})


def restart(run, d, status=None):
    """SIGKILL the daemon (no chance to clean up) and start it again.
    Keyring writes are asynchronous: wait until they have landed."""
    assert d.wait_keyring_idle(status=status), "keyring calls still queued after 30 s"
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    d.proc = None
    return d.start()


def survives_restart(tap, run, d, env, proxy, label):
    r = get(d, env, "prod-admin")
    tap.ok(r.get("ok"), "%s: first fetch" % label, brief(r))
    ak = r.get("AccessKeyId")
    restart(run, d)
    proxy.reset_counts()
    r = get(d, env, "prod-admin")
    tap.ok(r.get("ok"), "%s: fetch after SIGKILL and restart" % label, brief(r))
    tap.is_(r.get("AccessKeyId"), ak, "%s: same access key id" % label)
    tap.is_(r.get("from"), "keyring", "%s: served from the keyring" % label)
    tap.is_(proxy.counts().get("total", 0), 0, "%s: zero STS calls" % label)
    return r


def key_quota(uid):
    """(keys, bytes, max bytes) charged to uid in /proc/key-users, or None."""
    with open("/proc/key-users") as f:
        for line in f:
            m = re.match(r"\s*(\d+):\s+\d+\s+\S+\s+(\d+)/\d+\s+(\d+)/(\d+)", line)
            if m and int(m.group(1)) == uid:
                return int(m.group(2)), int(m.group(3)), int(m.group(4))
    return None


def scan_for(secrets, roots, raw=False):
    """Files under roots containing any of the secrets (str, or bytes with raw)."""
    hits = []
    for root in roots:
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [x for x in dirnames if not os.path.islink(os.path.join(dirpath, x))]
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    if os.path.islink(p) or os.path.getsize(p) > 50 * 1024 * 1024:
                        continue
                    with open(p, "rb") as fh:
                        data = fh.read()
                except OSError:
                    continue
                for s in secrets:
                    if s and (s if raw else s.encode()) in data:
                        hits.append(p)
                        break
    return hits


def variants(secrets):
    """Each secret raw and percent-encoded (as in a form body), as bytes."""
    out = set()
    for x in secrets:
        if x:
            out |= {x.encode(), urllib.parse.quote(x, safe="").encode()}
    return sorted(out)


def no_secret_anywhere(tap, run, seed, proxy, cache, daemon_env=None):
    """`keyrole add` the IAM user's keys (the HOME has no credentials file),
    fetch a two-hop chain from them, restart the daemon, fetch again; then no
    file under the test HOME or /tmp and no output of the daemon or the
    client (but get's stdout, which is the credentials) holds the secret
    access key or a session's secret or token."""
    home = run.home("scan-" + cache)
    cfg = ("[profile stored]\nregion = us-east-1\n\n"
           "[profile via-stored]\nrole_arn = %s\nsource_profile = stored\n"
           "role_session_name = %s\nregion = us-east-1\n\n"
           "[profile via-stored-admin]\nrole_arn = %s\nsource_profile = via-stored\n"
           "role_session_name = %s\nregion = us-east-1\n"
           % (seed["roles"]["prod"], SESSION, seed["roles"]["prod-admin"], SESSION))
    krtest.write_aws_config(home, cfg)
    d = run.daemon(home, cache=cache, env=daemon_env, log_level="debug")
    env = dict(krtest.aws_env(home, d.socket, proxy.url), KEYROLE_NO_AUTOSTART="1")
    outputs, secrets = [], [seed["secret_access_key"]]

    def client(args, stdin=None, creds_out=False):
        p = krtest.run_client(args, env=env, input=stdin, timeout=60)
        outputs.append(("keyrole %s (stderr)" % " ".join(args), p.stderr))
        if creds_out and p.returncode == 0:
            j = json.loads(p.stdout)
            secrets.extend([j.get("SecretAccessKey"), j.get("SessionToken")])
        else:
            outputs.append(("keyrole %s (stdout)" % " ".join(args), p.stdout))
        return p

    p = client(["add", "stored", "--verify"],
               stdin="%s\n%s\n" % (seed["access_key_id"], seed["secret_access_key"]))
    tap.is_(p.returncode, 0, "%s: keyrole add" % cache, p.stderr)
    for prof in ("via-stored", "via-stored-admin"):
        p = client(["get", prof], creds_out=True)
        tap.is_(p.returncode, 0, "%s: get %s from the stored keys" % (cache, prof), p.stderr)
    client(["status"])
    restart(run, d)
    proxy.reset_counts()
    p = client(["get", "via-stored-admin"], creds_out=True)
    tap.is_(p.returncode, 0, "%s: get the chain after a restart" % cache, p.stderr)
    tap.is_(proxy.count(), 0, "%s: served from the keyring, no STS call" % cache)
    tap.ok(any(n in p.stdout.encode() for n in variants(secrets[-2:])),
           "%s: the scan looks for what get prints" % cache)
    client(["forget", "via-stored-admin"])
    client(["remove", "stored"])
    client(["forget", "--all"])  # the kernel keyring of root is shared machine-wide
    secrets = [x for x in secrets if x]
    tap.ok(len(secrets) >= 7, "%s: %d secrets and tokens to look for" % (cache, len(secrets)))
    needles = variants(secrets)
    logs = d.log_text()
    tap.ok("AssumeRole" in logs, "%s: the daemon logged (debug level)" % cache)
    tap.ok(not any(n in logs.encode() for n in needles), "%s: no secret in the daemon's log"
           % cache)
    leaked = [name for name, text in outputs if any(n in text.encode() for n in needles)]
    tap.is_(leaked, [], "%s: no secret in the client's output" % cache)
    tap.ok(not os.path.exists(os.path.join(home, ".aws", "credentials")),
           "%s: the keys were never in a file of this HOME" % cache)
    # Other tests of this script keep the IAM user's key in their ~/.aws/credentials.
    hits = [h for h in scan_for(needles, [home, "/tmp"], raw=True)
            if not (h.endswith("/.aws/credentials") and not h.startswith(home + "/"))]
    tap.is_(hits, [], "%s: no file under the test HOME or /tmp holds a secret" % cache)


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION] + ["s%02d" % i for i in range(60)])
    proxy = run.proxy(moto.url)
    cfg, creds = krtest.chain_config(seed, process_profiles=False)
    secrets = [seed["secret_access_key"]]

    with tap.test("secret-service: cache survives SIGKILL"):
        ks = run.keyring()
        home = run.home()
        krtest.write_aws_config(home, cfg, creds)
        env = krtest.aws_env(home, None, proxy.url)
        d = run.daemon(home, cache="secret-service", env=ks.env())
        st = d.request({"v": 1, "op": "status"})
        tap.is_(st.get("backend"), "secret-service", "backend is secret-service")
        r = survives_restart(tap, run, d, env, proxy, "secret-service")
        secrets += [r.get("SecretAccessKey"), r.get("SessionToken")]
        items = ks.secret_tool(["search", "--all", "kind", "session"])
        tap.ok("keyrole:" in items.stdout + items.stderr, "items carry readable labels")

    with tap.test("secret-service: expired session items are swept when the daemon starts"):
        probe = krtest.require_file(krtest.tool("keyring_probe"), "keyring_probe")
        for i in range(3):
            p = subprocess.run([probe, "-b", "secret-service", "store", "%064x" % (i + 1),
                                "session", "stale", "-", "+1"], input="x" * 40,
                               env=ks.full_env(), capture_output=True, text=True, timeout=30)
            tap.is_(p.returncode, 0, "an item of an unused chain, expiring in 1 s", p.stdout)
        time.sleep(2.2)
        restart(run, d)
        gone = krtest.wait_until(lambda: "label" not in ks.secret_tool(
            ["search", "--all", "profile", "stale"]).stdout, timeout=10, interval=0.2)
        tap.ok(gone, "they are gone from the login keyring without a lookup")
        # the worker deletes, then the loop logs the count: the line may trail the deletion
        tap.ok(krtest.wait_until(lambda: "deleted 3 expired session item(s)" in d.log_text(),
                                 timeout=10), "the sweep is logged", d.log_text()[-1500:])
        r = get(d, env, "prod-admin")
        tap.is_(r.get("from"), "keyring", "live sessions stay", brief(r))

    with tap.test("long-term keys from keyrole add serve as a chain's source"):
        kcfg = cfg + ("\n[profile stored]\nregion = us-east-1\n\n[profile via-stored]\n"
                      "role_arn = %s\nsource_profile = stored\nrole_session_name = %s\n"
                      % (seed["roles"]["prod"], SESSION))
        krtest.write_aws_config(home, kcfg, creds)
        cenv = dict(env, KEYROLE_SOCKET=d.socket, KEYROLE_NO_AUTOSTART="1")
        r = get(d, env, "via-stored")
        tap.is_(r.get("error"), "nocreds", "no keys yet: nocreds", brief(r))
        tap.ok("keyrole add stored" in r.get("message", ""), "message says how to add them")
        p = krtest.run_client(["add", "stored", "--verify"], env=cenv,
                              input="%s\n%s\n" % (seed["access_key_id"],
                                                  seed["secret_access_key"]))
        tap.is_(p.returncode, 0, "keyrole add --verify succeeds", p.stderr)
        tap.is_(p.stderr, "", "nothing on stderr: the Secret Service survives a reboot")
        tap.ok(seed["user_arn"] in p.stdout + p.stderr, "it names the verified identity",
               p.stdout)
        st = d.request({"v": 1, "op": "status"})
        tap.ok("stored" in st.get("stored_keys", []), "status lists the profile with keys")
        tap.ok(seed["secret_access_key"] not in json.dumps(st), "status shows no key")
        r = get(d, env, "via-stored")
        tap.ok(r.get("ok"), "chain from stored keys works", brief(r))
        restart(run, d)
        d.request({"v": 1, "op": "forget", "all": True})
        r = get(d, env, "via-stored")
        tap.ok(r.get("ok"), "stored keys survive a restart", brief(r))
        p = krtest.run_client(["remove", "stored"], env=cenv)
        tap.is_(p.returncode, 0, "keyrole remove succeeds", p.stderr)
        r = get(d, env, "via-stored")
        tap.is_(r.get("error"), "nocreds",
                "after remove: nocreds at once (no session of the removed keys)", brief(r))
        p = krtest.run_client(["add", "stored"], env=cenv,
                              input="%s\n%s\n" % (seed["access_key_id"],
                                                  seed["secret_access_key"]))
        r = get(d, env, "via-stored")
        proxy.reset_counts()
        p = krtest.run_client(["add", "stored"], env=cenv,
                              input="%s\n%s\n" % (seed["access_key_id"],
                                                  seed["secret_access_key"]))
        tap.is_(p.returncode, 0, "keys added again", p.stderr)
        r = get(d, env, "via-stored")
        tap.ok(r.get("ok") and proxy.counts().get("AssumeRole", 0) == 1,
               "new keys: the next get makes its own session", brief(r))
        p = krtest.run_client(["remove", "stored"], env=cenv)
        tap.is_(p.returncode, 0, "and removed again", p.stderr)
        p = krtest.run_client(["add", "stored"], env=cenv, input="not-a-key\nx y\n")
        tap.ok(p.returncode != 0 and p.stdout == "", "malformed keys are refused", p.stderr)
        keys = "%s\n%s\n" % (seed["access_key_id"], seed["secret_access_key"])
        p = krtest.run_client(["add", "undeclared"], env=cenv, input=keys)
        tap.ok(p.returncode == 0 and p.stderr.count("\n") == 1
               and "profile undeclared is in no config file: add a [profile undeclared] "
               "section to " + os.path.join(home, ".aws", "config") in p.stderr,
               "add of a profile in no file: stored, and says how to declare it", p.stderr)
        p = krtest.run_client(["add", "dev"], env=cenv, input=keys)
        tap.ok(p.returncode == 0 and p.stderr.count("\n") == 1
               and os.path.join(home, ".aws", "credentials") + ":" in p.stderr
               and "used before stored ones" in p.stderr,
               "add of a profile with keys in the file: says the file's are used", p.stderr)
        for name in ("undeclared", "dev"):
            p = krtest.run_client(["remove", name], env=cenv)
            tap.is_(p.returncode, 0, "remove " + name, p.stderr)

    with tap.test("a locked collection falls back to memory with a warning"):
        ks2 = run.keyring(locked=True)
        h2 = run.home("locked")
        krtest.write_aws_config(h2, cfg, creds)
        d2 = run.daemon(h2, cache="secret-service", env=ks2.env())
        st = d2.request({"v": 1, "op": "status"})
        tap.is_(st.get("backend"), "memory", "backend memory")
        tap.ok(st.get("keyring_warning"), "status carries the warning", st.get("keyring_warning"))
        tap.ok("unavailable" in d2.log_text(), "warning logged")
        r = get(d2, krtest.aws_env(h2, None, proxy.url), "prod-admin")
        tap.ok(r.get("ok"), "fetch still succeeds", brief(r))
        d2.stop()

    with tap.test("a collection locked after start: no prompt, served from memory, then used again"):
        ks6 = run.keyring()
        h6 = run.home("relock")
        krtest.write_aws_config(h6, cfg, creds)
        env6 = krtest.aws_env(h6, None, proxy.url)
        d6 = run.daemon(h6, cache="secret-service", env=ks6.env())
        r = get(d6, env6, "prod")
        tap.ok(r.get("ok"), "a first fetch while unlocked", brief(r))
        mon_path = run.path("relock-monitor.txt")
        mon = ks6.monitor(mon_path)
        run.add_cleanup(krtest.stop_process, mon)
        time.sleep(0.5)  # dbus-monitor is listening
        ks6.lock()
        tap.ok(ks6.is_locked() is True, "the login collection is locked now")
        t0 = time.monotonic()
        r = get(d6, env6, "ops-admin")  # two hops: two lookups and two stores
        took = time.monotonic() - t0
        tap.ok(r.get("ok") and r.get("from") == "sts", "a new chain is still fetched", brief(r))
        tap.ok(took < 5, "without waiting for the keyring (%.2f s)" % took)
        r = get(d6, env6, "prod")
        tap.is_(r.get("from"), "memory", "a cached session is served from memory", brief(r))
        ok = krtest.wait_until(lambda: "could not be stored" in d6.log_text(), timeout=10)
        tap.ok(ok and "locked" in d6.log_text(), "the failed store is logged, saying why",
               d6.log_text()[-1500:])
        st = d6.request({"v": 1, "op": "status"})
        tap.is_(st.get("backend"), "secret-service", "the backend is kept (no failover)")
        tap.ok("locked" in (st.get("keyring_warning") or ""), "status says it is locked",
               st.get("keyring_warning"))
        time.sleep(0.5)
        krtest.stop_process(mon)
        with open(mon_path, errors="replace") as f:
            bus = f.read()
        calls = [m for m in ("member=Unlock", "member=Prompt") if m in bus]
        tap.is_(calls, [], "nobody asked the keyring to unlock or prompt")
        ks6.unlock_collection()
        tap.ok(ks6.is_locked() is False, "unlocked again")
        krtest.run_client(["forget", "ops-admin"],
                          env=dict(env6, KEYROLE_SOCKET=d6.socket, KEYROLE_NO_AUTOSTART="1"))
        r = get(d6, env6, "ops-admin")
        tap.is_(r.get("from"), "sts", "fetched again after the unlock", brief(r))
        ok = krtest.wait_until(lambda: "stored again" in d6.log_text(), timeout=10)
        tap.ok(ok, "the daemon says sessions are stored again", d6.log_text()[-800:])
        st = d6.request({"v": 1, "op": "status"})
        tap.ok(not st.get("keyring_warning"), "the warning is gone", st.get("keyring_warning"))
        restart(run, d6)
        proxy.reset_counts()
        r = get(d6, env6, "ops-admin")
        tap.is_(r.get("from"), "keyring", "and the keyring serves them after a restart", brief(r))
        tap.is_(proxy.counts().get("total", 0), 0, "zero STS calls")
        d6.stop()
        ks6.stop()

    with tap.test("no session bus falls back to memory with a warning"):
        h3 = run.home("nobus")
        krtest.write_aws_config(h3, cfg, creds)
        d3 = run.daemon(h3, cache="secret-service",
                        env={"DBUS_SESSION_BUS_ADDRESS": None, "DISPLAY": None})
        st = d3.request({"v": 1, "op": "status"})
        tap.is_(st.get("backend"), "memory", "backend memory")
        tap.ok("no D-Bus session bus" in (st.get("keyring_warning") or ""),
               "status carries the warning", st.get("keyring_warning"))
        log = d3.log_text()
        tap.ok("warning: keyring 'secret-service' unavailable" in log and
               "no D-Bus session bus" in log, "the warning is logged, saying why", log[-1500:])
        r = get(d3, krtest.aws_env(h3, None, proxy.url), "prod-admin")
        tap.ok(r.get("ok"), "fetch still succeeds", brief(r))
        d3.stop()

    with tap.test("keyctl as root: cache survives SIGKILL"):
        if not krtest.is_root():
            raise krtest.Skip("not root")
        h4 = run.home("keyctl")
        krtest.write_aws_config(h4, cfg, creds)
        d4 = run.daemon(h4, cache="keyctl")
        env4 = krtest.aws_env(h4, None, proxy.url)
        tap.is_(d4.request({"v": 1, "op": "status"}).get("backend"), "keyctl", "backend keyctl")
        r = survives_restart(tap, run, d4, env4, proxy, "keyctl/root")
        secrets += [r.get("SecretAccessKey"), r.get("SessionToken")]
        cenv4 = dict(env4, KEYROLE_SOCKET=d4.socket, KEYROLE_NO_AUTOSTART="1")
        p = krtest.run_client(["add", "stored4"], env=cenv4,
                              input="%s\n%s\n" % (seed["access_key_id"],
                                                  seed["secret_access_key"]))
        tap.is_(p.returncode, 0, "keyrole add into the kernel keyring", p.stderr)
        lines = p.stderr.splitlines()
        tap.ok(len(lines) == 1 and "kernel keyring does not survive a reboot" in lines[0],
               "keyrole add says, in one stderr line, that it does not survive a reboot",
               p.stderr)
        tap.ok("stored long-term keys for stored4" in p.stdout, "and confirms on stdout",
               p.stdout)
        p = krtest.run_client(["add", "stored5"], env=cenv4,
                              input="%s\n%s\n" % (seed["access_key_id"],
                                                  seed["secret_access_key"]))
        tap.ok(p.returncode == 0 and "kernel keyring" not in p.stderr,
               "a second add: the reboot note is not repeated", p.stderr)
        p = krtest.run_client(["status"], env=cenv4)
        tap.ok(p.returncode == 0 and "cache keyctl (lost at reboot)\n" in p.stdout
               and "note:" not in p.stdout, "status: the backend's line says it, once",
               p.stdout + p.stderr)
        for name in ("stored4", "stored5"):
            p = krtest.run_client(["remove", name], env=cenv4)
            tap.is_(p.returncode, 0, "keyrole remove " + name, p.stderr)
        d4.request({"v": 1, "op": "forget", "all": True})
        d4.stop()

    with tap.test("keyctl as an ordinary user: restart and the quota"):
        if not krtest.is_root():
            raise krtest.Skip("needs root to create and switch to a test user")
        user = krtest.ensure_test_user()
        krtest.reset_user_keyrings(user)
        uhome, urt = krtest.user_dirs(run, user)
        many = "".join("\n[profile many%02d]\nrole_arn = %s\nsource_profile = dev\n"
                       "role_session_name = s%02d\nregion = us-east-1\n"
                       % (i, seed["roles"]["prod"], i) for i in range(60))
        krtest.write_aws_config(uhome, cfg + many, creds, owner=(user[0], user[1]))
        sockdir = os.path.join(urt, "kr")
        d5 = krtest.Daemon(None, uhome, sockdir, cache="keyctl", user=(user[0], user[1]),
                           runtime_dir=urt, run=run)
        run.adopt(d5)
        d5.start()
        uenv = {"KEYROLE_SOCKET": d5.socket, "KEYROLE_NO_AUTOSTART": "1",
                "AWS_CONFIG_FILE": os.path.join(uhome, ".aws", "config"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(uhome, ".aws", "credentials"),
                "AWS_ENDPOINT_URL_STS": proxy.url}

        def uget(profile):
            return krtest.run_as_user(user, [krtest.keyrole(), "get", profile], uhome, urt,
                                      env=uenv)

        p = uget("prod-admin")
        tap.is_(p.returncode, 0, "user: first fetch", p.stderr)
        ak = json.loads(p.stdout or "{}").get("AccessKeyId")

        def ustatus():
            p = krtest.run_as_user(user, [krtest.keyrole(), "status", "--json"], uhome, urt,
                                   env=uenv)
            return json.loads(p.stdout or "{}")
        restart(run, d5, status=ustatus)
        proxy.reset_counts()
        p = uget("prod-admin")
        tap.is_(p.returncode, 0, "user: fetch after SIGKILL", p.stderr)
        tap.is_(json.loads(p.stdout or "{}").get("AccessKeyId"), ak, "user: same access key id")
        tap.is_(proxy.counts().get("total", 0), 0, "user: zero STS calls")
        tap.ok(d5.proc and os.stat("/proc/%d" % d5.proc.pid).st_uid == user[0],
               "the daemon runs as the unprivileged test user")
        ku = key_quota(user[0])
        tap.ok(ku and ku[2] == 20000, "with the ordinary 20,000-byte kernel quota: %r" % (ku,))
        fails, peak = [], 0
        for i in range(60):
            p = uget("many%02d" % i)
            if p.returncode != 0:
                fails.append(p.stderr.strip())
            time.sleep(0.05)  # the store is asynchronous
            ku = key_quota(user[0])
            peak = max(peak, ku[1] if ku else 0)
        tap.is_(len(fails), 0, "60 profiles past the kernel quota all succeed",
                fails[0] if fails else None)
        tap.ok(d5.alive(), "daemon alive after the quota was hit")
        p = krtest.run_as_user(user, [krtest.keyrole(), "status", "--json"], uhome, urt,
                               env=uenv)
        st = json.loads(p.stdout or "{}")
        tap.is_(st.get("counters", {}).get("errors"), 0, "the daemon counted no failed request",
                p.stderr)
        tap.ok(peak >= 20000 - 2500, "the quota was reached (peak %d of 20000 bytes)" % peak)
        kept = krtest.run_as_user(user, [krtest.tool("keyring_probe"), "-b", "keyctl", "list",
                                         "session"], uhome, urt)
        n_kept = sum(1 for ln in kept.stdout.splitlines() if ln.startswith("item "))
        tap.ok(0 < n_kept < 62, "old sessions were evicted to make room: %d of 62 kept"
               % n_kept, kept.stdout[-500:] + kept.stderr)
        # Leave the test user's kernel quota empty for the next test.
        krtest.run_as_user(user, [krtest.keyrole(), "forget", "--all"], uhome, urt, env=uenv)
        d5.stop()

    with tap.test("secret-service: keyrole add, a two-hop chain, a restart: no secret "
                  "in any file or output"):
        no_secret_anywhere(tap, run, seed, proxy, "secret-service", daemon_env=ks.env())

    with tap.test("keyctl: keyrole add, a two-hop chain, a restart: no secret in any file "
                  "or output"):
        if not krtest.is_root():
            raise krtest.Skip("not root")
        no_secret_anywhere(tap, run, seed, proxy, "keyctl")

    with tap.test("no secret of the tests above in files"):
        secrets = [s for s in secrets if s]
        roots = [run.dir, "/tmp"]
        # The test's own ~/.aws/credentials files hold the IAM user's key by design.
        hits = [h for h in scan_for(secrets, roots) if not h.endswith("/.aws/credentials")]
        tap.is_(hits, [], "no file under the test dirs or /tmp holds a secret or token")


krtest.main(main)
