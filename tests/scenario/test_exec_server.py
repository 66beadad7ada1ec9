"""keyrole exec --server: the child reads the container credentials endpoint
that keyroled serves on 127.0.0.1, never keys. Behind a proxy that makes
every STS session last 60 seconds, a boto3 loop runs for 3 minutes without a
failure, sees several sessions, never one past its Expiration, with about one
AssumeRole per session; two execs share the daemon's sessions; the JS SDK v3
reads the endpoint; a missing, wrong or ended token is refused; the port
closes with the last exec; 1,000 malformed or half-sent requests do not stop
a good one; exec-server = yes makes --server the default (--no-server
overrides it); no token or secret reaches the daemon's log."""

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
sys.path.insert(0, HERE)
import krtest  # noqa: E402

SESSION = "kr-test"
LOOP_S = int(os.environ.get("KR_EXEC_SERVER_LOOP_S", "180"))

# The child of exec --server: what it sees, and one request to the endpoint.
PROBE = r"""
import json, os, sys, urllib.request, urllib.error
out = {k: os.environ.get(k) for k in (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_CREDENTIAL_EXPIRATION", "AWS_REGION", "KEYROLE_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN")}
req = urllib.request.Request(out["AWS_CONTAINER_CREDENTIALS_FULL_URI"] or "http://127.0.0.1:1/",
                             headers={"Authorization": out["AWS_CONTAINER_AUTHORIZATION_TOKEN"] or ""})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        out["status"], out["body"] = r.status, json.loads(r.read())
except urllib.error.HTTPError as e:
    out["status"], out["body"] = e.code, e.read().decode()
except OSError as e:
    out["status"], out["body"] = None, str(e)
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
if len(sys.argv) > 2:
    import time
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.05)
"""

# boto3 through the container provider, every 2 s for LOOP_S seconds.
BOTO_LOOP = r"""
import json, sys, time, datetime
import boto3
end = time.time() + float(sys.argv[2])
sess = boto3.Session(region_name="us-east-1")
sts = sess.client("sts", endpoint_url=sys.argv[3])
seen, fails, late, calls = {}, [], 0, 0
while time.time() < end:
    try:
        creds = sess.get_credentials()
        frozen = creds.get_frozen_credentials()
        exp = creds._expiry_time
        now = datetime.datetime.now(datetime.timezone.utc)
        if exp is None or exp <= now:
            late += 1
        seen.setdefault(frozen.access_key, exp.isoformat() if exp else None)
        sts.get_caller_identity()
        calls += 1
    except Exception as e:
        fails.append("%s: %s" % (type(e).__name__, e))
    time.sleep(2)
with open(sys.argv[1], "w") as f:
    json.dump({"keys": len(seen), "fails": fails, "late": late, "calls": calls,
               "method": sess.get_credentials().method}, f)
"""

JS_TEST = r"""
const { fromContainerMetadata, fromHttp } = require("@aws-sdk/credential-providers");
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
(async () => {
  const sts = new STSClient({ region: "us-east-1", endpoint: process.env.KR_STS_URL });
  const id = await sts.send(new GetCallerIdentityCommand({}));
  const creds = await sts.config.credentials();
  console.log(JSON.stringify({ arn: id.Arn, akid: creds.accessKeyId,
                               expiration: creds.expiration ? creds.expiration.toISOString() : null }));
})().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });
"""


def run_exec(args, env, timeout=60):
    p = subprocess.run([krtest.keyrole(), "exec"] + args, env=krtest.clean_env(env),
                       capture_output=True, timeout=timeout, cwd="/", stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def probe(run, env, profile, extra=(), wait_for=None, name="probe"):
    """Run PROBE under keyrole exec; -> (rc, result dict, stderr)."""
    script = run.path("probe.py")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(PROBE)
    out = run.path(name + ".json")
    argv = list(extra) + [profile, "--", sys.executable, script, out]
    if wait_for:
        argv.append(wait_for)
    rc, _, err = run_exec(argv, env)
    try:
        with open(out) as f:
            return rc, json.load(f), err
    except (OSError, ValueError):
        return rc, {}, err


def http_get(url, headers=None, timeout=5.0):
    """One GET: -> (status or None, body text, seconds)."""
    u = urllib.parse.urlsplit(url)
    t0 = time.monotonic()
    try:
        s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    except OSError as e:
        return None, str(e), time.monotonic() - t0
    with s:
        head = "GET %s HTTP/1.1\r\nHost: %s:%d\r\n" % (u.path, u.hostname, u.port)
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        s.sendall((head + "\r\n").encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    dt = time.monotonic() - t0
    if not data.startswith(b"HTTP/1.1 "):
        return None, data.decode("latin-1"), dt
    status = int(data[9:12])
    return status, data.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace"), dt


def connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def main(tap, run):
    krtest.require_file(krtest.keyrole(), "keyrole")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    proxy = run.proxy(moto.url)
    proxy.short_sessions(60)
    home = run.home()
    cfg, creds = krtest.chain_config(seed, session_name=SESSION, process_profiles=False)
    krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, proxy.url)
    tokens, secrets = [], []

    # -- the long boto3 loop runs on profile ops while the rest runs on prod --
    loop_out = run.path("loop.json")
    with open(run.path("loop.py"), "w") as f:
        f.write(BOTO_LOOP)
    proxy.reset_counts()
    loop = subprocess.Popen(
        [krtest.keyrole(), "exec", "--server", "ops", "--", sys.executable, run.path("loop.py"),
         loop_out, str(LOOP_S), moto.url],
        env=krtest.clean_env(env), cwd="/", stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run.add_cleanup(lambda: loop.poll() is None and loop.kill())
    loop_started = time.time()

    with tap.test("the child gets the endpoint, not keys, and the endpoint answers"):
        rc, res, err = probe(run, dict(env, AWS_ACCESS_KEY_ID="AKIASTALE0000000000",
                                       AWS_SECRET_ACCESS_KEY="stale", AWS_SESSION_TOKEN="stale",
                                       AWS_SECURITY_TOKEN="stale", AWS_PROFILE="stale",
                                       AWS_CREDENTIAL_EXPIRATION="2000-01-01T00:00:00Z"),
                             "prod", ["--server"])
        tap.is_(rc, 0, "exec --server exits with the child's status", err)
        uri = res.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or ""
        tap.ok(uri.startswith("http://127.0.0.1:"), "FULL_URI is on 127.0.0.1", uri)
        tok = res.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or ""
        tap.ok(len(tok) == 64 and all(c in "0123456789abcdef" for c in tok),
               "the token is 256 random bits in hex", len(tok))
        tokens.append(tok)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                  "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_CREDENTIAL_EXPIRATION"):
            tap.ok(res.get(k) is None, "%s removed" % k, res.get(k))
        tap.is_(res.get("AWS_REGION"), "us-east-1", "the profile's region is set")
        tap.is_(res.get("KEYROLE_PROFILE"), "prod", "KEYROLE_PROFILE is set")
        tap.is_(res.get("status"), 200, "the endpoint answers 200", res.get("body"))
        body = res.get("body") if isinstance(res.get("body"), dict) else {}
        tap.ok(all(body.get(k) for k in ("AccessKeyId", "SecretAccessKey", "Token",
                                          "Expiration")),
               "AccessKeyId, SecretAccessKey, Token and Expiration", sorted(body))
        exp = body.get("Expiration", "")
        tap.ok(exp.endswith("Z") and time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ"))
               - time.timezone > time.time(), "Expiration is ISO 8601 and ahead", exp)
        secrets += [body.get("SecretAccessKey"), body.get("Token")]

    with tap.test("a missing, wrong or ended token is refused; the port closes with the last exec"):
        gate = run.path("gate-a")
        holder = threading.Thread(target=lambda: probe(run, env, "prod", ["--server"],
                                                       wait_for=gate, name="holder"))
        holder.start()
        ok = krtest.wait_until(lambda: os.path.exists(run.path("holder.json")), timeout=20)
        tap.ok(ok, "a long exec --server runs")
        with open(run.path("holder.json")) as f:
            held = json.load(f)
        url, tok = held["AWS_CONTAINER_CREDENTIALS_FULL_URI"], held[
            "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        tokens.append(tok)
        st, body, _ = http_get(url)
        tap.is_(st, 401, "no Authorization header: 401", body)
        st, body, _ = http_get(url, {"Authorization": "0" * 64})
        tap.is_(st, 403, "a wrong token: 403", body)
        st, body, _ = http_get(url, {"Authorization": tok[:-1] + ("0" if tok[-1] != "0" else "1")})
        tap.is_(st, 403, "a token one character off: 403", body)
        st, _, _ = http_get(url, {"Authorization": tok})
        tap.is_(st, 200, "the live token: 200")
        # Another exec that ends: its token is refused on the same port.
        rc, short, _ = probe(run, env, "prod", ["--server"], name="short")
        tap.is_(rc, 0, "a second exec --server ran")
        tokens.append(short.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
        tap.is_(short.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), url,
                "both execs share the one listener")
        st, body, _ = http_get(url, {"Authorization": short["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
        tap.is_(st, 403, "the token of an exec that ended: 403", body)
        log = d.log_text()
        tap.ok("refused a request" in log and "(403)" in log and "(401)" in log,
               "refusals are logged")
        # 1,000 malformed or half-sent requests, held open, then a good one.
        port = int(urllib.parse.urlsplit(url).port)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        bad = []
        kinds = [b"GARBAGE\r\n\r\n", b"GET /keyrole/credentials HTTP/1.1\r\nAuthoriz",
                 b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 9000, b"", b"\x00\x01\x02\r\n\r\n"]
        for i in range(1000):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(kinds[i % len(kinds)])
                bad.append(s)
            except OSError:
                pass
        tap.ok(len(bad) >= 900, "1,000 bad connections made", len(bad))
        st, _, dt = http_get(url, {"Authorization": tok}, timeout=5)
        tap.ok(st == 200 and dt < 2.0, "a good request is answered promptly among them",
               (st, round(dt, 3)))
        for s in bad:
            s.close()
        # Half-sent requests that go on sending slowly, concurrently with good ones.
        trickle = []
        for i in range(300):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(b"GET /keyrole/credentials HTTP/1.1\r\n")
                trickle.append(s)
            except OSError:
                pass
        worst = 0.0
        for _ in range(5):
            st, _, dt = http_get(url, {"Authorization": tok}, timeout=5)
            worst = max(worst, dt if st == 200 else 99)
        tap.ok(worst < 2.0, "5 good requests among 300 slow ones, each prompt", round(worst, 3))
        for s in trickle:
            s.close()
        tap.ok(d.alive(), "keyroled still runs")
        with open(gate, "w"):
            pass
        holder.join(30)
        # The loop exec still holds the listener; once it ends the port must close.
        loop_port = port

    with tap.test("two exec --server of one profile share the daemon's sessions"):
        d.request({"v": 1, "op": "forget", "all": True})
        before = [r for r in proxy.requests() if r["action"] == "AssumeRole"
                  and r["role_arn"] == seed["roles"]["prod"]]
        gate = run.path("gate-b")
        ts = [threading.Thread(target=probe, args=(run, env, "prod", ["--server"]),
                               kwargs={"wait_for": gate, "name": "share%d" % i})
              for i in range(2)]
        for t in ts:
            t.start()
        krtest.wait_until(lambda: all(os.path.exists(run.path("share%d.json" % i))
                                      for i in range(2)), timeout=30)
        res = []
        for i in range(2):
            with open(run.path("share%d.json" % i)) as f:
                res.append(json.load(f))
        with open(gate, "w"):
            pass
        for t in ts:
            t.join(30)
        after = [r for r in proxy.requests() if r["action"] == "AssumeRole"
                 and r["role_arn"] == seed["roles"]["prod"]]
        keys = {(r.get("body") or {}).get("AccessKeyId") for r in res}
        tap.is_(len(after) - len(before), 1, "one AssumeRole for both")
        tap.ok(len(keys) == 1 and None not in keys, "both children got the same session", keys)
        tokens += [r.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") for r in res]

    with tap.test("the JS SDK v3 reads credentials from the endpoint"):
        import test_client_sdk
        node, jd = test_client_sdk.js_deps(tap)
        script = run.path("js.js")
        with open(script, "w") as f:
            f.write(JS_TEST)
        jenv = dict(env, NODE_PATH=os.path.join(jd, "node_modules"), KR_STS_URL=moto.url)
        rc, out, err = run_exec(["--server", "prod", "--", node, script], jenv, timeout=120)
        tap.is_(rc, 0, "node exits 0", err[-500:])
        try:
            got = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            got = {}
        tap.ok(":assumed-role/prod/" in (got.get("arn") or ""), "GetCallerIdentity as prod",
               got)
        tap.ok(bool(got.get("expiration")), "the SDK saw an Expiration", got)

    with tap.test("exec-server = yes makes --server the default; --no-server overrides it"):
        conf = run.path("keyroled.conf")
        with open(conf, "w") as f:
            f.write("exec-server = yes\n")
        d2 = run.daemon(home, args=["--config", conf])
        env2 = krtest.aws_env(home, d2.socket, proxy.url)
        rc, res, err = probe(run, env2, "prod", name="dflt")
        tap.is_(rc, 0, "plain exec ran", err)
        tap.ok(bool(res.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")) and
               res.get("AWS_ACCESS_KEY_ID") is None, "plain exec got the endpoint", sorted(
                   k for k, v in res.items() if v))
        tap.is_(res.get("status"), 200, "and the endpoint answered")
        tokens.append(res.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
        rc, res, err = probe(run, env2, "prod", ["--no-server"], name="noserver")
        tap.ok(rc == 0 and res.get("AWS_ACCESS_KEY_ID") and
               not res.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "--no-server gets keys",
               err)
        rc, res, err = probe(run, env, "prod", name="plain")
        tap.ok(rc == 0 and res.get("AWS_ACCESS_KEY_ID") and
               not res.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
               "without the setting plain exec gets keys", err)
        rc, _, err = run_exec(["--server", "prod", "--", "/nonexistent/cmd"], env)
        tap.is_(rc, 127, "a missing command: 127", err)
        rc, _, err = run_exec(["--server", "prod", "--", "sh", "-c", "exit 7"], env)
        tap.is_(rc, 7, "the child's status")

    with tap.test("SIGTERM to keyrole reaches the command; keyrole exits with its status"):
        mark = run.path("got-term")
        p = subprocess.Popen(
            [krtest.keyrole(), "exec", "--server", "prod", "--", "sh", "-c",
             'trap "echo term > %s; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
             % mark],
            env=krtest.clean_env(env), cwd="/", stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready = p.stdout.readline().decode().strip()
        tap.is_(ready, "ready", "the command runs")
        p.send_signal(15)
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        tap.ok(os.path.exists(mark), "the command got SIGTERM")
        tap.is_(rc, 3, "keyrole exits with the command's status")

    with tap.test("when a session can no longer be renewed the endpoint says why, never expired"):
        gate = run.path("gate-c")
        holder = threading.Thread(target=lambda: probe(run, env, "prod-admin", ["--server"],
                                                       wait_for=gate, name="fail"))
        holder.start()
        krtest.wait_until(lambda: os.path.exists(run.path("fail.json")), timeout=30)
        with open(run.path("fail.json")) as f:
            held = json.load(f)
        url, tok = held["AWS_CONTAINER_CREDENTIALS_FULL_URI"], held[
            "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        tokens.append(tok)
        tap.is_(held.get("status"), 200, "prod-admin served at first")
        # STS refuses every renewal of the prod-admin hop from now on.
        proxy.fail_next(100000, "503", match="prod-admin")
        statuses, late, err_body = [], 0, ""
        t_end = time.time() + 75
        while time.time() < t_end:
            st, body, _ = http_get(url, {"Authorization": tok}, timeout=10)
            statuses.append(st)
            if st == 200:
                exp = json.loads(body)["Expiration"]
                if time.mktime(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone \
                        <= time.time():
                    late += 1
            else:
                err_body = body
                break
            time.sleep(2)
        tap.is_(late, 0, "no expired credentials while renewal fails")
        tap.is_(statuses[-1] if statuses else None, 503,
                "503 once the session is used up", statuses)
        try:
            eb = json.loads(err_body)
        except ValueError:
            eb = {}
        tap.ok(eb.get("code") and "prod-admin" in (eb.get("message") or ""),
               "the body's code and message name the failing hop", err_body[:300])
        tap.ok("credentials endpoint: no credentials to answer with" in d.log_text(),
               "the daemon logs it")
        stat = d.request({"v": 1, "op": "status"})
        errs = [e.get("refresh_error") for e in stat.get("entries", [])
                if e.get("role") == seed["roles"]["prod-admin"] and e.get("refresh_error")]
        tap.ok(errs, "status lists the refresh error", stat.get("entries"))
        proxy.clear_faults()
        st, _, _ = http_get(url, {"Authorization": tok}, timeout=30)
        tap.is_(st, 200, "renewed again once STS answers")
        with open(gate, "w"):
            pass
        holder.join(30)

    with tap.test("a boto3 loop of %d s on 60-second sessions never fails" % LOOP_S):
        try:
            _, lerr = loop.communicate(timeout=LOOP_S + 60)
        except subprocess.TimeoutExpired:
            loop.kill()
            _, lerr = loop.communicate()
        tap.is_(loop.returncode, 0, "the loop's exec exits 0", lerr.decode()[-500:])
        try:
            with open(loop_out) as f:
                res = json.load(f)
        except (OSError, ValueError):
            res = {}
        elapsed = time.time() - loop_started
        tap.is_(res.get("fails"), [], "no call failed")
        tap.ok(res.get("calls", 0) >= LOOP_S // 2 - 5, "a call every 2 s", res.get("calls"))
        tap.is_(res.get("method"), "container-role", "boto3 used the container provider")
        tap.ok(res.get("keys", 0) >= max(2, LOOP_S // 60), "at least %d distinct access keys"
               % max(2, LOOP_S // 60), res.get("keys"))
        tap.is_(res.get("late"), 0, "never a credential past its Expiration")
        ops = [r for r in proxy.requests() if r["action"] == "AssumeRole"
               and r["role_arn"] == seed["roles"]["ops"]]
        # A 60 s session is renewed about 30 s into its life: one call per session.
        bound = int(elapsed / 20) + 3
        tap.ok(len(ops) <= bound, "AssumeRole for ops bounded: one per session (%d <= %d)"
               % (len(ops), bound), len(ops))
        tap.ok(len(ops) >= res.get("keys", 0), "one AssumeRole per key seen", len(ops))
        tap.ok(connect_refused(loop_port), "after every exec --server ended, the port is closed")

    with tap.test("no token or secret in the daemon's log"):
        log = d.log_text() + d2.log_text()
        leaked = [t[:6] for t in tokens + secrets if t and t in log]
        tap.is_(leaked, [], "none of %d tokens and secrets" % len(tokens + secrets))

    with tap.test("every keyroled ends cleanly (no sanitizer report, exit 0 on SIGTERM)"):
        for x in (d, d2):
            rc = x.stop(timeout=30)
            log = x.log_text()
            tap.ok(rc in (0, None) and "Sanitizer" not in log and "runtime error" not in log,
                   "keyroled exits %r with nothing to report" % rc, log[-3000:])


if __name__ == "__main__":
    krtest.main(main)
