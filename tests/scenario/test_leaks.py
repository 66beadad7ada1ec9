"""No leaks of ours in keyroled through a full scenario.

The daemon runs against moto behind the fault proxy and serves: a cold
two-hop chain, a cache hit, a retried Throttling, an AWS error, a bad
frame, check, status, forget, add and remove of long-term keys, a missing
profile; keyrole console against tests/lib/fake_signin.py (a role's URL,
GetFederationToken refused, the endpoint's refusal, a client that gives
up); and IAM Identity Center against tests/lib/fake_sso.py: a token
refreshed from the AWS CLI's file, role credentials, sso_profiles, a
device login approved and waited for, logout, and a login still polling
at SIGTERM.

- Plain build: under valgrind (--leak-check=full; definite and possible
  leaks are errors, as are memory errors), once for each cache backend:
  memory, the Secret Service (whose code paths differ most) and the kernel
  keyring. Two suppression files, both required (a missing one fails the
  test instead of changing what is checked): GLib's own glib.supp, and
  tests/valgrind.supp, which holds only leaks of GLib/GDBus itself (the
  thread-local storage of the threads GLib starts and never ends).
- Sanitizer build (SANITIZE=1, ASan cannot run under valgrind): LeakSanitizer
  checks at exit instead.
- Secrets live in OpenSSL's secure heap, which neither checker sees into:
  keyroled counts its blocks there and logs an error at exit if any is
  left; that line must not appear.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
from fake_sso import FakeSSO, write_cli_token_cache  # noqa: E402
from fake_signin import FakeSignin  # noqa: E402

GLIB_SUPP = "/usr/share/glib-2.0/valgrind/glib.supp"  # libglib2.0-dev
OUR_SUPP = os.path.join(krtest.repo_root(), "tests", "valgrind.supp")
SUPPRESSIONS = (GLIB_SUPP, OUR_SUPP)
SECURE_LEAK = "blocks of secret memory still allocated at exit"  # daemon/main.c


def is_sanitized():
    with open(krtest.keyroled(), "rb") as f:
        return b"__asan_init" in f.read()


class ValgrindDaemon(krtest.Daemon):
    """keyroled under valgrind; the report goes to vg_log."""

    def __init__(self, *a, vg_log=None, **kw):
        super().__init__(*a, **kw)
        self.vg_log = vg_log

    def argv(self):
        vg = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,possible",
              "--errors-for-leak-kinds=definite,possible", "--error-exitcode=99",
              "--num-callers=30", "--log-file=" + self.vg_log]
        return vg + ["--suppressions=" + s for s in SUPPRESSIONS] + super().argv()


SSO_ACCOUNT = "111111111111"
SSO_CONFIG = """
[sso-session corp]
sso_start_url = {su}
sso_region = us-east-1

[profile sso-dev]
sso_session = corp
sso_account_id = {acct}
sso_role_name = Developer
"""


def sso_setup(fake, home, cfg):
    """The SSO profile and a token in the AWS CLI's file (in the refresh window)."""
    write_cli_token_cache(home, fake.issue_token("alice", ttl=600), session_name="corp")
    return cfg + SSO_CONFIG.format(su=fake.start_url, acct=SSO_ACCOUNT)


def sso_scenario(tap, d, env, fake, label):
    """Tokens, role credentials, listing, a login, logout, and a login left polling."""
    def req(op, **kw):
        r = {"v": 1, "op": op, "env": env}
        r.update(kw)
        return d.request(r, timeout=90)

    r = req("get", profile="sso-dev")
    tap.ok(r.get("ok") is True, "%s: SSO role credentials after a refresh" % label,
           json.dumps({k: r.get(k) for k in ("error", "message")}))
    req("get", profile="sso-dev")  # hit
    req("sso_profiles", session="corp")
    r = req("login", session="corp", force=True)
    fake.approve(r.get("user_code"))
    r = req("login_wait", login_id=r.get("login_id"))
    tap.ok(r.get("ok") is True, "%s: a device login" % label,
           json.dumps({k: r.get(k) for k in ("error", "message")}))
    req("status")
    req("logout", session="corp")
    req("login", session="corp")  # left polling: the daemon ends with it in flight


def scenario(tap, d, env, proxy, label):
    """Drive the daemon through most of its paths; report only hard failures."""
    def get(profile, **kw):
        req = {"v": 1, "op": "get", "profile": profile, "env": env}
        req.update(kw)
        return d.request(req, timeout=90)

    r = get("prod-admin")
    tap.ok(r.get("ok") is True, "%s: cold two-hop chain" % label,
           json.dumps({k: r.get(k) for k in ("error", "message")}))
    get("prod-admin")  # hit
    d.request({"v": 1, "op": "forget", "profile": "prod"})
    proxy.fail_next(1, "throttle")
    get("prod")  # retried
    get("denied")  # AWS error
    get("no-such-profile")
    d.request({"v": 1, "op": "check", "env": env}, timeout=30)
    d.request({"v": 1, "op": "status"})
    d.request({"v": 1, "op": "add", "profile": "stored", "access_key_id": "AKIALEAKTEST00000000",
               "secret_access_key": "x" * 40, "env": env}, timeout=30)
    d.request({"v": 1, "op": "remove", "profile": "stored"}, timeout=30)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # a bad frame
        s.settimeout(10)
        s.connect(d.socket)
        s.sendall(struct.pack(">I", 5) + b"{nope")
        s.shutdown(socket.SHUT_WR)
        s.recv(4096)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # a client that gives up
        s.connect(d.socket)
        body = json.dumps({"v": 1, "op": "get", "profile": "ops-admin", "env": env}).encode()
        s.sendall(struct.pack(">I", len(body)) + body)
    get("ops-admin")  # waits on the abandoned request's STS call: it ends before SIGTERM
    r = d.request({"v": 1, "op": "forget", "all": True})
    tap.ok(r.get("ok") is True, "%s: forget all" % label)


def console_scenario(tap, d, env, signin, label):
    """keyrole console: a role's URL, GetFederationToken refused for dev's
    keys, the endpoint's refusal, and a client that gives up mid-way."""
    env = dict(env, KEYROLE_FEDERATION_URL=signin.url)

    def console(profile, **kw):
        req = {"v": 1, "op": "console", "profile": profile, "env": env}
        req.update(kw)
        return d.request(req, timeout=90)

    r = console("prod-admin", duration=1800)
    tap.ok(r.get("ok") is True and r.get("url"), "%s: a console URL" % label,
           json.dumps({k: r.get(k) for k in ("error", "message")}))
    console("dev")  # long-term keys: GetFederationToken (dev-user may not: AWS error)
    signin.fail_next(400)
    console("prod-admin", destination="https://example.com/")  # the endpoint refuses
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # a client that gives up
        s.connect(d.socket)
        body = json.dumps({"v": 1, "op": "console", "profile": "ops", "env": env}).encode()
        s.sendall(struct.pack(">I", len(body)) + body)
    console("ops")  # waits on the abandoned request's STS call


def lost_lines(text):
    """Leak summary lines that report something lost (definitely or possibly)."""
    return [ln for ln in text.splitlines()
            if re.search(r"(definitely|possibly) lost: [1-9]", ln)]


def run_valgrind(tap, run, seed, proxy, fake, signin, cache, extra_env=None):
    label = "valgrind, --cache %s" % cache
    home = run.home("vg")
    cfg, creds = krtest.chain_config(seed)
    krtest.write_aws_config(home, sso_setup(fake, home, cfg), creds)
    vg_log = run.path("valgrind-%s.log" % cache)
    d = ValgrindDaemon(None, home, run.mkdtemp("sock-vg-"), run=run, cache=cache,
                       log_level="info", env=extra_env, vg_log=vg_log)
    d.start(timeout=60)
    run.adopt(d)
    env = krtest.aws_env(home, d.socket, proxy.url, extra=fake.env())
    scenario(tap, d, env, proxy, label)
    sso_scenario(tap, d, env, fake, label)
    console_scenario(tap, d, env, signin, label)
    rc = d.stop(timeout=60)
    try:
        with open(vg_log, errors="replace") as f:
            report = f.read()
    except OSError:
        report = ""
    tap.is_(rc, 0, "%s: exits 0 on SIGTERM (99 = valgrind found errors)" % label,
            "\n".join(report.splitlines()[-60:]))
    lost = lost_lines(report)
    tap.ok("LEAK SUMMARY" in report and not lost and "ERROR SUMMARY: 0 errors" in report,
           "%s: no definite or possible leaks, no memory errors" % label,
           "\n".join(report.splitlines()[-80:]))
    secure_heap_check(tap, d, label)


def secure_heap_check(tap, d, label):
    log = d.log_text()
    tap.ok("secure memory:" in log and SECURE_LEAK not in log,
           "%s: no block of ours left in the secure heap at exit" % label,
           "\n".join(log.splitlines()[-20:]))


def run_lsan(tap, run, seed, proxy, fake, signin):
    label = "LeakSanitizer"
    home = run.home("lsan")
    cfg, creds = krtest.chain_config(seed)
    krtest.write_aws_config(home, sso_setup(fake, home, cfg), creds)
    opts = "detect_leaks=1:" + krtest.CALLER_ENV.get("ASAN_OPTIONS", "")
    d = run.adopt(krtest.Daemon(None, home, run.mkdtemp("sock-lsan-"), run=run,
                                log_level="info", env={"ASAN_OPTIONS": opts}).start())
    env = krtest.aws_env(home, d.socket, proxy.url, extra=fake.env())
    scenario(tap, d, env, proxy, label)
    sso_scenario(tap, d, env, fake, label)
    console_scenario(tap, d, env, signin, label)
    rc = d.stop(timeout=60)
    log = d.log_text()
    tap.is_(rc, 0, "%s: exits 0 on SIGTERM (non-zero = leaks found)" % label,
            "\n".join(log.splitlines()[-60:]))
    tap.ok("LeakSanitizer" not in log and "AddressSanitizer" not in log,
           "%s: no leak or error report at exit" % label, "\n".join(log.splitlines()[-80:]))
    secure_heap_check(tap, d, label)


def main(tap, run):
    krtest.require_file(krtest.keyroled(), "keyroled")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=["kr-test"])
    proxy = run.proxy(moto.url)
    fake = run.adopt(FakeSSO(device_interval=1))
    fake.add_user("alice")
    fake.add_role(SSO_ACCOUNT, "Developer", users=["alice"], moto=False)
    signin = run.adopt(FakeSignin())

    if is_sanitized():
        with tap.test("LeakSanitizer: a full scenario leaks nothing"):
            run_lsan(tap, run, seed, proxy, fake, signin)
        return
    if not shutil.which("valgrind", path=krtest.CALLER_ENV.get("PATH")):
        raise krtest.Skip("valgrind not installed (apt-get install valgrind)")
    missing = [s for s in SUPPRESSIONS if not os.path.isfile(s)]
    if not tap.is_(missing, [], "valgrind suppression files are present"):
        return  # without them the run would check something else
    with tap.test("valgrind: a full scenario with the memory cache leaks nothing"):
        run_valgrind(tap, run, seed, proxy, fake, signin, "memory")
    with tap.test("valgrind: a full scenario with the Secret Service cache leaks nothing"):
        ks = run.keyring()
        run_valgrind(tap, run, seed, proxy, fake, signin, "secret-service", extra_env=ks.env())
    with tap.test("valgrind: a full scenario with the kernel keyring cache leaks nothing"):
        if subprocess.run(["keyctl", "show", "@u"], capture_output=True).returncode != 0:
            raise krtest.Skip("keyctl does not work here")
        run_valgrind(tap, run, seed, proxy, fake, signin, "keyctl")


krtest.main(main)
