"""Proves the scenario fixtures in tests/lib (krtest.py, fault_proxy.py)
against the real peers: moto_server with auth on, the fault proxy, a private
gnome-keyring, the unprivileged test user, the start barrier, and (when
built) keyroled/keyrole."""

import http.client
import os
import socket
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
from krtest import Skip  # noqa: E402

from botocore.exceptions import ClientError  # noqa: E402


def err_code(fn):
    """Run fn; -> the AWS error code it raised, or None when it succeeded."""
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def sts_for(url, creds, retries=1):
    return krtest.boto_client("sts", url, creds["AccessKeyId"], creds["SecretAccessKey"],
                              creds.get("SessionToken"), retries=retries)


def test_tap_turns_exceptions_into_failures(tap, run):
    script = run.path("tapcheck.py")
    with open(script, "w") as f:
        f.write(
            "import sys\n"
            "sys.path.insert(0, %r)\n"
            "import krtest\n"
            "t = krtest.Tap()\n"
            "with t.test('body raises'):\n"
            "    raise ValueError('boom')\n"
            "with t.test('body passes'):\n"
            "    pass\n"
            "with t.test('body skips'):\n"
            "    raise krtest.Skip('no such thing here')\n"
            "t.is_(1, 2, 'values differ')\n"
            "sys.exit(t.done())\n" % os.path.dirname(krtest.__file__))
    p = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=30,
                       env=krtest.clean_env())
    lines = p.stdout.splitlines()
    tap.is_(p.returncode, 1, "Tap.done() returns 1 after a failure")
    tap.ok("not ok 1 - body raises (exception)" in lines, "an exception becomes not ok",
           p.stdout)
    tap.ok(any(x.startswith("# ValueError: boom") for x in lines),
           "the traceback is printed as diagnostics", p.stdout)
    tap.ok("ok 2 - body passes" in lines, "the script goes on after an exception", p.stdout)
    tap.ok("ok 3 - body skips # SKIP no such thing here" in lines, "Skip becomes a TAP skip",
           p.stdout)
    tap.ok("not ok 4 - values differ" in lines and "# want: 2" in lines,
           "is_ shows got and want", p.stdout)
    tap.is_(lines[-1] if lines else None, "1..4", "the plan line comes last")


def test_environment_is_clean(tap, run):
    leaked = sorted(k for k in os.environ if k.startswith("AWS_") and k not in (
        "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"))
    tap.is_(leaked, [], "no caller AWS_* variable is left in the test process")
    env = krtest.clean_env({"HOME": "/x", "KEYROLE_SOCKET": "/s"})
    tap.is_(sorted(k for k in env if k.startswith("AWS_")), [],
            "clean_env() gives children no AWS_* variable")
    tap.ok(env["HOME"] == "/x" and env["KEYROLE_SOCKET"] == "/s" and "PATH" in env,
           "clean_env() adds exactly what is passed")
    st = os.stat(run.dir)
    tap.ok(run.dir.startswith("/tmp/krtest-") and stat.S_IMODE(st.st_mode) in (0o700, 0o711),
           "the run has a private temp dir under /tmp", run.dir)


def test_write_aws_config(tap, run):
    home = run.home()
    cfg, creds = krtest.write_aws_config(home, """
        [profile a]
        region = eu-west-1
        """, "[a]\naws_access_key_id = AKIAEXAMPLE\n")
    modes = [stat.S_IMODE(os.stat(p).st_mode) for p in (os.path.dirname(cfg), cfg, creds)]
    tap.is_(modes, [0o700, 0o600, 0o600], "config dir 0700, files 0600")
    with open(cfg) as f:
        tap.is_(f.read(), "\n[profile a]\nregion = eu-west-1\n", "config text is dedented")


def test_moto_and_chain(tap, run, state):
    moto = run.moto()
    state["moto"] = moto
    st, _ = krtest.http_request(moto.url + "/moto-api/data.json")
    tap.is_(st, 200, "moto_server answers on 127.0.0.1")
    t0 = time.monotonic()
    seed = krtest.seed_chain(moto, session_names=["kr-test", "keyrole-prod-admin"])
    state["seed"] = seed
    tap.diag("seed_chain + enable_auth took %.2f s" % (time.monotonic() - t0))
    url = moto.url
    user = {"AccessKeyId": seed["access_key_id"], "SecretAccessKey": seed["secret_access_key"]}
    sts = sts_for(url, user)
    tap.is_(sts.get_caller_identity()["Arn"], seed["user_arn"],
            "dev-user keys work with auth on")
    tap.is_(seed["account"], "123456789012", "the account is moto's default")

    sk = user["SecretAccessKey"]
    bad = dict(user, SecretAccessKey=("x" if sk[0] != "x" else "y") + sk[1:])
    tap.is_(err_code(lambda: sts_for(url, bad).get_caller_identity()), "SignatureDoesNotMatch",
            "a wrong secret gives SignatureDoesNotMatch")
    tap.is_(err_code(lambda: moto.client("sts").get_caller_identity()), "InvalidClientTokenId",
            "the fake root key is refused once auth is on")

    prod = sts.assume_role(RoleArn=seed["roles"]["prod"], RoleSessionName="kr-test")
    pc = prod["Credentials"]
    tap.is_(prod["AssumedRoleUser"]["Arn"], krtest.session_arn("prod", "kr-test"),
            "dev-user assumes prod")
    admin = sts_for(url, pc).assume_role(RoleArn=seed["roles"]["prod-admin"],
                                         RoleSessionName="hop2")
    ac = admin["Credentials"]
    tap.is_(sts_for(url, ac).get_caller_identity()["Arn"],
            krtest.session_arn("prod-admin", "hop2"), "prod session assumes prod-admin (chained)")

    other = sts.assume_role(RoleArn=seed["roles"]["prod"], RoleSessionName="not-listed")
    tap.is_(err_code(lambda: sts_for(url, other["Credentials"]).assume_role(
        RoleArn=seed["roles"]["prod-admin"], RoleSessionName="hop2")), "AccessDenied",
        "prod-admin trusts only the listed session names")

    ops = sts.assume_role(RoleArn=seed["roles"]["ops"], RoleSessionName="keyrole-prod-admin")
    tap.ok(seed["roles"]["ops"].endswith(":role/team/ops/ops"), "ops has path /team/ops/")
    tap.is_(err_code(lambda: sts_for(url, ops["Credentials"]).assume_role(
        RoleArn=seed["roles"]["ops-admin"], RoleSessionName="hop2")), None,
        "chain through path roles: ops -> ops-admin")
    tap.is_(err_code(lambda: sts.assume_role(RoleArn=seed["roles"]["denied"],
                                             RoleSessionName="kr-test")), "AccessDenied",
            "the denied role gives AccessDenied")
    tap.is_(err_code(lambda: sts_for(url, {"AccessKeyId": pc["AccessKeyId"],
                                           "SecretAccessKey": pc["SecretAccessKey"]})
                     .get_caller_identity()), "InvalidClientTokenId",
            "session keys without their token give InvalidClientTokenId")

    home = run.home()
    cfg_text, cred_text = krtest.chain_config(seed, session_name="kr-test")
    krtest.write_aws_config(home, cfg_text, cred_text)
    probe = ("import boto3; s = boto3.Session(profile_name='prod-admin'); "
             "print(s.client('sts').get_caller_identity()['Arn'])")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       env=krtest.clean_env(krtest.aws_env(home, endpoint_url=url)))
    tap.is_(p.stdout.strip(), krtest.session_arn("prod-admin", "kr-test"),
            "chain_config() text resolves prod-admin in botocore", p.stderr[-1500:])

    with moto.admin() as iam:
        arn = krtest.add_role(iam, "extra", [seed["user_arn"]])
    tap.is_(err_code(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="kr-test")), None,
            "moto.admin() adds a role and auth comes back on")
    tap.is_(err_code(lambda: moto.client("sts").get_caller_identity()), "InvalidClientTokenId",
            "auth is on again after moto.admin()")


def test_proxy(tap, run, state):
    moto, seed = state.get("moto"), state.get("seed")
    if not seed:
        raise Skip("moto was not seeded")
    px = run.proxy(moto.url)
    user = {"AccessKeyId": seed["access_key_id"], "SecretAccessKey": seed["secret_access_key"]}
    sts = sts_for(px.url, user)
    tap.is_(sts.get_caller_identity()["Arn"], seed["user_arn"],
            "a signed request passes through the proxy (Host forwarded)")
    prod = sts.assume_role(RoleArn=seed["roles"]["prod"], RoleSessionName="kr-test")
    pc = prod["Credentials"]
    psts = sts_for(px.url, pc)
    psts.assume_role(RoleArn=seed["roles"]["prod-admin"], RoleSessionName="hop2")
    c = px.counts()
    tap.is_(c, {"total": 3, "GetCallerIdentity": 1, "AssumeRole": 2}, "counts() by Action")
    recs = px.requests()
    tap.is_([(r["action"], r["role_arn"], r["session_name"], r["status"]) for r in recs[1:]],
            [("AssumeRole", seed["roles"]["prod"], "kr-test", 200),
             ("AssumeRole", seed["roles"]["prod-admin"], "hop2", 200)],
            "requests() records action, role, session name, status")
    text = repr(recs)
    tap.ok(seed["secret_access_key"] not in text and pc["SecretAccessKey"] not in text
           and pc["SessionToken"] not in text, "records hold no secret")
    px.reset_counts()
    tap.is_(px.counts(), {"total": 0}, "reset_counts()")

    px.fail_next(2, "throttle")
    codes = [err_code(sts.get_caller_identity) for _ in range(3)]
    tap.is_(codes, ["Throttling", "Throttling", None],
            "fail_next(2, throttle): two Throttling answers, then through")
    tap.is_(px.count("GetCallerIdentity"), 3, "faulted requests are counted too")
    px.fail_next("throttle", 1)
    tap.is_(err_code(sts.get_caller_identity), "Throttling",
            "fail_next(kind, n) order is accepted too")

    gci = b"Action=GetCallerIdentity&Version=2011-06-15"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    px.fail_next(1, "503")
    st, body = krtest.http_request(px.url + "/", data=gci, headers=form, method="POST")
    tap.ok(st == 503 and b"<" not in body, "fail_next(1, 503): HTTP 503, plain body", body)
    px.fail_next(1, "500html")
    st, body = krtest.http_request(px.url + "/", data=gci, headers=form, method="POST")
    tap.ok(st == 500 and b"<html" in body, "fail_next(1, 500html): HTTP 500, HTML page", body)
    px.fail_next(1, "throttle")
    st, body = krtest.http_request(px.url + "/", data=gci, headers=form, method="POST")
    tap.ok(st == 400 and b"<Code>Throttling</Code>" in body and b"<ErrorResponse" in body,
           "throttle is HTTP 400 with an STS ErrorResponse", body)
    px.fail_next(1, "throttle", match="prod-admin")
    tap.is_(err_code(sts.get_caller_identity), None, "a fault with match spares other requests")
    tap.is_(err_code(lambda: psts.assume_role(RoleArn=seed["roles"]["prod-admin"],
                                              RoleSessionName="hop2")), "Throttling",
            "a fault with match hits the matching request")

    px.fail_next(1, "drop")
    conn = http.client.HTTPConnection("127.0.0.1", px.port, timeout=5)
    try:
        conn.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        conn.getresponse()
        dropped = False
    except (http.client.RemoteDisconnected, ConnectionError):
        dropped = True
    finally:
        conn.close()
    tap.ok(dropped, "drop closes the connection without an answer")
    tap.is_(err_code(sts.get_caller_identity), None, "the request after a drop goes through")

    px.delay(0.6, match=seed["roles"]["prod-admin"])
    t0 = time.monotonic()
    sts.get_caller_identity()
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    psts.assume_role(RoleArn=seed["roles"]["prod-admin"], RoleSessionName="hop2")
    slow = time.monotonic() - t0
    tap.ok(slow >= 0.6 and fast < 0.5, "delay(s, match) delays only matching requests",
           "matching %.3f s, other %.3f s" % (slow, fast))
    px.delay(0, match=seed["roles"]["prod-admin"])

    px.reset_counts()
    px.hold()
    box = {}

    def held_call():
        box["code"] = err_code(sts.get_caller_identity)
        box["t"] = time.monotonic()

    import threading
    th = threading.Thread(target=held_call)
    th.start()
    arrived = px.wait_for(1, timeout=5)
    time.sleep(0.2)
    still = "code" not in box
    t_rel = time.monotonic()
    px.release()
    th.join(10)
    tap.ok(arrived and still and box.get("code") is None and box.get("t", 0) >= t_rel,
           "hold() parks requests until release(); wait_for() sees them arrive")

    px.down(True)
    s = socket.create_connection(("127.0.0.1", px.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    try:
        closed = s.recv(100) == b""
    except ConnectionResetError:
        closed = True
    s.close()
    tap.ok(closed, "down(True) closes connections at once")
    px.down(True, mode="refuse")
    try:
        socket.create_connection(("127.0.0.1", px.port), timeout=5).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    tap.ok(refused, "down(True, refuse) refuses connections")
    px.down(False)
    tap.is_(err_code(sts.get_caller_identity), None, "down(False) serves again on the same port")
    px.stop()
    try:
        socket.create_connection(("127.0.0.1", px.port), timeout=5).close()
        stopped = False
    except ConnectionRefusedError:
        stopped = True
    tap.ok(stopped, "stop() closes the proxy")


def test_moto_stops(tap, run, state):
    moto = state.get("moto")
    if not moto:
        raise Skip("moto did not start")
    proc, port = moto.proc, moto.port
    rc = moto.stop()
    tap.ok(proc.poll() is not None, "moto stops by PID", "exit %r" % rc)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        gone = False
    except ConnectionRefusedError:
        gone = True
    tap.ok(gone, "moto's port is closed after stop")


def test_keyring(tap, run):
    kr = run.keyring()
    tap.is_(kr.is_locked(), False, "the login collection is unlocked")
    p = kr.secret_tool(["store", "--label=krtest", "service", "krtest", "k", "v"],
                       input="not-a-real-secret")
    tap.is_(p.returncode, 0, "secret-tool store works in the private session", p.stderr)
    p = kr.secret_tool(["lookup", "service", "krtest", "k", "v"])
    tap.is_(p.stdout, "not-a-real-secret", "secret-tool lookup finds it")
    kr.lock()
    tap.is_(kr.is_locked(), True, "lock() locks the collection")
    p = kr.secret_tool(["lookup", "service", "krtest", "k", "v"], timeout=5)
    tap.ok(p.returncode != 0 and p.stdout == "", "a locked collection answers no lookup")
    p = kr.secret_tool(["store", "--label=krtest", "service", "krtest", "k", "w"],
                       input="x", timeout=5)
    tap.ok(p.returncode != 0 and "locked" in p.stderr, "a locked collection refuses a store",
           p.stderr)
    kr.stop()
    none = run.keyring(unlock=False)
    p = none.secret_tool(["store", "--label=krtest", "a", "b"], input="x", timeout=5)
    tap.ok(p.returncode != 0, "without --unlock there is no collection to store in", p.stderr)
    none.stop()
    locked = run.keyring(locked=True)
    tap.is_(locked.is_locked(), True, "KeyringSession(locked=True) starts locked")
    locked.stop()


def test_test_user(tap, run):
    if not krtest.is_root():
        raise Skip("not root: cannot create or switch to the test user")
    uid, gid, name = krtest.ensure_test_user()
    tap.ok(uid != 0 and name == krtest.TEST_USER, "ensure_test_user() gives a non-root user")
    tap.is_(krtest.ensure_test_user()[0], uid, "ensure_test_user() again finds the same user")
    home, rt = krtest.user_dirs(run, (uid, gid, name))
    p = krtest.run_as_user(name, ["sh", "-c", 'id -u; echo "$HOME"; echo "$XDG_RUNTIME_DIR";'
                                  ' touch "$HOME/f" && echo wrote'], home, rt)
    tap.is_(p.stdout.split(), [str(uid), home, rt, "wrote"],
            "run_as_user runs as the user with its own HOME and XDG_RUNTIME_DIR", p.stderr)
    kr = run.keyring(user=(uid, gid))
    p = krtest.run_as_user(name, ["sh", "-c", "printf v | secret-tool store --label=t a b && "
                                  "secret-tool lookup a b"], home, rt, env=kr.env())
    tap.ok(p.returncode == 0 and p.stdout == "v",
           "KeyringSession(user=...) serves the test user", p.stderr)
    kr.stop()


def test_start_many(tap, run):
    n = 6
    cmds = [[sys.executable, "-c", "import time; print(repr(time.time()))"] for _ in range(n)]
    before = time.time()
    res = krtest.start_many(cmds, timeout=20)
    tap.is_([r.rc for r in res], [0] * n, "start_many runs every command")
    starts = [float(r.stdout) for r in res]
    spread = max(starts) - min(starts)
    tap.ok(spread < 0.5 and min(starts) >= before, "they start together after the barrier",
           "spread %.3f s" % spread)
    res = krtest.start_many([["sleep", "5"]], timeout=0.5)
    tap.ok(res[0].timed_out and res[0].rc is None and res[0].elapsed < 3,
           "a command over the timeout is killed", repr(res[0]))
    res = krtest.start_many([["cat"]], input="piped")
    tap.is_(res[0].stdout, "piped", "input reaches each command")


# Stand-ins for keyroled and keyrole, so Daemon and run_client are proven
# even before the real programs are built. The fake daemon speaks the frame
# format of doc/protocol.txt and logs its environment's AWS_* names.
_FAKE_KEYROLED = r"""#!%(py)s
import json, os, signal, socket, struct, sys
a = sys.argv[1:]
path = a[a.index("--socket") + 1]
sys.stderr.write("fake keyroled args=%%s aws=%%s home=%%s xdg=%%s\n" %% (
    " ".join(a), sorted(k for k in os.environ if k.startswith("AWS_")),
    os.environ.get("HOME"), os.environ.get("XDG_RUNTIME_DIR")))
sys.stderr.flush()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
while True:
    c, _ = s.accept()
    try:  # the readiness probe connects and closes at once
        n = struct.unpack(">I", c.recv(4))[0]
        req = json.loads(c.recv(n))
        body = json.dumps({"v": 1, "ok": req.get("op") == "ping"}).encode()
        c.sendall(struct.pack(">I", len(body)) + body)
    except (struct.error, ValueError, OSError):
        pass
    c.close()
"""

_FAKE_KEYROLE = """#!/bin/sh
env | sort
cat
exit 3
"""


def _write_exe(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def test_daemon_fixture_with_stand_in(tap, run):
    fake = run.mkdtemp("fakebuild-")
    _write_exe(os.path.join(fake, "keyroled"), _FAKE_KEYROLED % {"py": sys.executable})
    _write_exe(os.path.join(fake, "keyrole"), _FAKE_KEYROLE)
    home = run.home()
    d = run.adopt(krtest.Daemon(fake, home, run.mkdtemp("sock-"), args=["--idle-exit", "0"],
                                env={"EXTRA": "1"}, run=run))
    t0 = time.monotonic()
    d.start()
    tap.ok(d.alive() and krtest.socket_accepts(d.socket),
           "Daemon.start() returns once the socket accepts",
           "%.2f s\n%s" % (time.monotonic() - t0, d.log_text()))
    tap.is_(d.request({"v": 1, "op": "ping"}), {"v": 1, "ok": True},
            "Daemon.request() speaks the frame protocol")
    log = d.log_text()
    tap.ok("--socket %s --cache memory --log-level debug --idle-exit 0" % d.socket in log,
           "Daemon passes --socket, --cache, --log-level and extra args", log)
    tap.ok("aws=[]" in log and ("home=%s " % home) in log and "xdg=/tmp/krtest-" in log,
           "Daemon gives a clean env with HOME and a private XDG_RUNTIME_DIR", log)
    rc = d.stop()
    tap.ok(rc == 0 and not d.alive(), "Daemon.stop() ends it with SIGTERM", "exit %r" % rc)

    p = krtest.run_client(["get", "x"], krtest.aws_env(home, d.socket, "http://127.0.0.1:9"),
                          input="stdin-text", build=fake)
    env = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    tap.is_(p.returncode, 3, "run_client returns the exit status")
    tap.ok(env.get("KEYROLE_SOCKET") == d.socket and env.get("HOME") == home
           and env.get("AWS_ENDPOINT_URL_STS") == "http://127.0.0.1:9"
           and env.get("AWS_CONFIG_FILE") == os.path.join(home, ".aws", "config"),
           "run_client passes the given environment", p.stdout)
    tap.is_(sorted(k for k in env if k.startswith("AWS_")),
            ["AWS_CONFIG_FILE", "AWS_ENDPOINT_URL_STS", "AWS_SHARED_CREDENTIALS_FILE"],
            "run_client adds no other AWS_* variable")
    tap.ok(p.stdout.endswith("stdin-text"), "run_client feeds input on stdin", p.stdout)


def test_real_client_and_daemon(tap, run):
    if not os.access(krtest.keyrole(), os.X_OK):
        tap.skip("run_client runs the real keyrole", "keyrole not built (%s)" % krtest.keyrole())
    else:
        p = krtest.run_client(["--help"], {"HOME": run.home()})
        tap.ok(p.returncode == 0 and "usage" in p.stdout,
               "run_client runs the real keyrole --help", p.stdout + p.stderr)
    if not os.access(krtest.keyroled(), os.X_OK):
        tap.skip("Daemon starts the real keyroled", "keyroled not built (%s)" % krtest.keyroled())
        return
    home = run.home()
    d = run.daemon(home)
    tap.ok(d.alive() and krtest.socket_accepts(d.socket),
           "Daemon starts the real keyroled on its socket")
    reply = d.request({"v": 1, "op": "ping"})
    tap.is_(reply.get("ok"), True, "the real daemon answers ping", reply)
    rc = d.stop()
    tap.ok(not d.alive() and rc is not None, "Daemon.stop() stops the real daemon by PID",
           "exit %r\n%s" % (rc, d.log_text()[-2000:]))


def main(tap, run):
    t0 = time.monotonic()
    state = {}
    with tap.test("Tap"):
        test_tap_turns_exceptions_into_failures(tap, run)
    with tap.test("environment"):
        test_environment_is_clean(tap, run)
    with tap.test("write_aws_config"):
        test_write_aws_config(tap, run)
    with tap.test("moto and the seeded chain"):
        test_moto_and_chain(tap, run, state)
    with tap.test("fault proxy"):
        test_proxy(tap, run, state)
    with tap.test("moto stops"):
        test_moto_stops(tap, run, state)
    with tap.test("keyring session"):
        test_keyring(tap, run)
    with tap.test("test user"):
        test_test_user(tap, run)
    with tap.test("start_many"):
        test_start_many(tap, run)
    with tap.test("Daemon and run_client with stand-ins"):
        test_daemon_fixture_with_stand_in(tap, run)
    with tap.test("real keyrole and keyroled"):
        test_real_client_and_daemon(tap, run)
    tap.diag("fixtures test took %.1f s" % (time.monotonic() - t0))


krtest.main(main)
