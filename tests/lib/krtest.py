"""Fixtures for keyrole scenario tests (plain Python 3.11, boto3/moto only).

Import from a scenario script:

    import os, sys
    sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
    import krtest

    def main(tap, run):
        with tap.test("daemon answers"):
            moto = run.moto()
            seed = krtest.seed_chain(moto, session_names=["kr-test"])
            ...
    krtest.main(main)

Rules these fixtures keep:
- Everything they start listens on 127.0.0.1 or a Unix socket in a private
  temp dir, and is stopped by PID (terminate, bounded wait, kill).
- Child processes get a clean environment: PATH, LANG, sanitizer options and
  exactly what the test passes. Nothing named AWS_* leaks in from the caller.
- On import this module removes AWS_* and *_proxy variables from os.environ
  (and points AWS_CONFIG_FILE/AWS_SHARED_CREDENTIALS_FILE at /dev/null), so
  boto3 used in the test process sees only the explicit credentials and
  endpoint_url the fixtures pass. The caller's values stay in CALLER_ENV.
- Every wait is bounded in count and time.
- Secrets (secret keys, tokens) are never printed in TAP output; diag()
  callers must not pass them either.
"""

import atexit
import contextlib
import http.server
import json
import os
import pwd
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_proxy import FAULT_KINDS, FaultProxy  # noqa: E402,F401 - re-exported

ACCOUNT = "123456789012"
REGION = "us-east-1"
TEST_USER = "keyrole-test"

# ---------------------------------------------------------------------------
# Environment hygiene for the test process itself.

CALLER_ENV = dict(os.environ)
for _k in list(os.environ):
    if _k.startswith("AWS_") or _k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        del os.environ[_k]
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

# Passed through to children so sanitizer builds behave as the caller wants.
_PASS_THROUGH = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR")


def clean_env(extra=None):
    """A minimal environment for a child: PATH, LANG, sanitizer options, + extra.

    A value of None in extra removes that name.
    """
    env = {
        "PATH": CALLER_ENV.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    for k in _PASS_THROUGH:
        if k in CALLER_ENV:
            env[k] = CALLER_ENV[k]
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


# ---------------------------------------------------------------------------
# TAP


class Skip(Exception):
    """Raise inside a tap.test() block: the block reports "ok N - name # SKIP"."""


class Tap:
    """TAP producer. Lines go to stdout at once; done() prints the plan."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.n = 0
        self.failed = 0
        self._lock = threading.Lock()

    def _line(self, text):
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def diag(self, msg):
        for line in str(msg).splitlines() or [""]:
            self._line("# " + line)

    def ok(self, cond, name, diag=None):
        with self._lock:
            self.n += 1
            n = self.n
            if not cond:
                self.failed += 1
        self._line("%s %d - %s" % ("ok" if cond else "not ok", n, _tap_name(name)))
        if not cond and diag is not None:
            self.diag(diag)
        return bool(cond)

    def is_(self, got, want, name, diag=None):
        d = "got:  %r\nwant: %r" % (got, want)
        return self.ok(got == want, name, d if diag is None else "%s\n%s" % (d, diag))

    def skip(self, name, reason):
        with self._lock:
            self.n += 1
            n = self.n
        self._line("ok %d - %s # SKIP %s" % (n, _tap_name(name), reason))

    @contextlib.contextmanager
    def test(self, name):
        """Run a test body. An exception becomes "not ok N - name" with the
        traceback as diagnostics (the script goes on); Skip("why") becomes a
        skip; a body that reported nothing itself reports "ok N - name"."""
        before = self.n
        try:
            yield self
        except Skip as e:
            self.skip(name, str(e) or "skipped")
        except Exception:  # noqa: BLE001 - a failing body must not kill the script
            self.ok(False, name + " (exception)", traceback.format_exc())
        else:
            if self.n == before:
                self.ok(True, name)

    def done(self):
        """Print the plan line; return the exit status (0 = all passed)."""
        self._line("1..%d" % self.n)
        return 1 if self.failed else 0


def _tap_name(name):
    return str(name).replace("\n", " ").replace("#", "\\#")


# ---------------------------------------------------------------------------
# Paths


def repo_root():
    return os.environ.get("KR_SRC") or os.path.abspath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    )


def build_dir():
    return CALLER_ENV.get("KR_BUILD") or os.path.join(repo_root(), "build")


def keyrole():
    return os.path.join(build_dir(), "keyrole")


def keyroled():
    return os.path.join(build_dir(), "keyroled")


def test_bin(name):
    """build/tests/NAME (helpers and unit tests)."""
    return os.path.join(build_dir(), "tests", name)


def tool(name):
    """build/tests/tools/NAME (scenario drivers)."""
    return os.path.join(build_dir(), "tests", "tools", name)


def data_dir():
    return os.path.join(repo_root(), "tests", "data")


def require_file(path, what=None):
    """Raise Skip when a build product is missing (e.g. not built yet)."""
    if not os.access(path, os.X_OK):
        raise Skip("%s not built (%s missing)" % (what or os.path.basename(path), path))
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# Processes


def stop_process(proc, timeout=5.0):
    """Terminate one Popen by PID: SIGTERM, bounded wait, SIGKILL. -> returncode."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        except ProcessLookupError:
            pass
    return proc.returncode


def wait_until(pred, timeout=5.0, interval=0.02):
    """Poll pred() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class Run:
    """One test run: a private temp dir (0700, under /tmp) and a LIFO list of
    cleanups, all run by close() (also at exit and on SIGTERM/SIGINT)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="krtest-", dir="/tmp")
        self._cleanups = []
        self._closed = False
        atexit.register(self.close)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mkdir(self, *parts, mode=0o700):
        p = self.path(*parts)
        os.makedirs(p, mode=mode, exist_ok=True)
        os.chmod(p, mode)
        return p

    def mkdtemp(self, prefix="d-"):
        return tempfile.mkdtemp(prefix=prefix, dir=self.dir)

    def add_cleanup(self, fn, *args):
        self._cleanups.append((fn, args))

    def adopt(self, obj):
        """Stop obj (obj.stop()) when the run ends; returns obj."""
        self.add_cleanup(obj.stop)
        return obj

    # Convenience constructors that register their own cleanup.
    def moto(self, **kw):
        return self.adopt(Moto(self, **kw).start())

    def proxy(self, upstream_url):
        return self.adopt(FaultProxy(upstream_url))

    def daemon(self, home, sockdir=None, **kw):
        sockdir = sockdir or self.mkdtemp("sock-")
        return self.adopt(Daemon(None, home, sockdir, run=self, **kw).start())

    def keyring(self, **kw):
        return self.adopt(KeyringSession(self, **kw).start())

    def home(self, name="home"):
        """A fresh private HOME (0700) inside the run dir."""
        return self.mkdtemp(name + "-")

    def close(self):
        if self._closed:
            return
        self._closed = True
        while self._cleanups:
            fn, args = self._cleanups.pop()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - cleanup must go on
                sys.stderr.write("krtest: cleanup failed:\n" + traceback.format_exc())
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _raise_exit(signo, frame):
    raise SystemExit(128 + signo)


def main(fn):
    """Run fn(tap, run), clean up everything, exit with the TAP status.

    SIGTERM/SIGINT become SystemExit so cleanups still run. An exception
    that escapes fn is reported as one failed test."""
    signal.signal(signal.SIGTERM, _raise_exit)
    tap = Tap()
    run = Run()
    try:
        fn(tap, run)
    except Skip as e:
        tap.skip(os.path.basename(sys.argv[0]), str(e))
    except Exception:  # noqa: BLE001
        tap.ok(False, "script ran to the end", traceback.format_exc())
    finally:
        run.close()
    sys.exit(tap.done())


# ---------------------------------------------------------------------------
# HTTP without proxies (urllib honours *_proxy; we never want that).

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(url, data=None, headers=None, method=None, timeout=5.0):
    """-> (status, body bytes). HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---------------------------------------------------------------------------
# Canned HTTP(S) answers and TLS


class CannedServer:
    """A tiny HTTP(S) server on 127.0.0.1 that answers every POST with one
    fixed body (for what moto cannot do: oversized answers, TLS). Stopped by
    stop() (registered with the run)."""

    def __init__(self, body, status=200, tls_ctx=None):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(n, 1 << 20))
                outer.hits += 1
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.hits = 0
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        if tls_ctx:
            self.srv.socket = tls_ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls_ctx else "http", self.port)
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)


def make_cert(run):
    """A self-signed certificate for IP 127.0.0.1 -> (cert, key) paths."""
    if not shutil.which("openssl", path=CALLER_ENV.get("PATH")):
        raise Skip("openssl command not installed (apt-get install openssl)")
    d = run.mkdtemp("tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


# ---------------------------------------------------------------------------
# moto


def boto_client(service, endpoint_url, access_key_id, secret_access_key, session_token=None,
                region=REGION, retries=1):
    """A boto3 client with explicit credentials and endpoint, no retries by
    default. retries=N means N attempts in total (botocore's
    total_max_attempts; note its "max_attempts" counts retries only, so
    max_attempts=1 would make two attempts)."""
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"total_max_attempts": retries, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30)
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        config=cfg,
    )


class Moto:
    """moto_server on 127.0.0.1:free port, stopped by PID.

    moto 5.2.1 facts (checked here): with auth off any key works and the
    account is 123456789012; reset-auth "0" turns signature and IAM policy
    checks on at once, after which the fake root keys ("test") are refused
    (InvalidClientTokenId) - so seed first, then enable_auth(). /moto-api/
    stays reachable with auth on. /moto-api/reset clears data but not the
    auth setting.
    """

    ROOT_KEY = "test"  # any key works while auth is off

    def __init__(self, run, ready_timeout=15.0):
        self.run = run
        self.ready_timeout = ready_timeout
        self.proc = None
        self.port = None
        self.auth = False
        self.log_path = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        exe = shutil.which("moto_server", path=CALLER_ENV.get("PATH"))
        if not exe:
            raise Skip("moto_server not on PATH (needs moto[server] for python3; no PyPI here)")
        last = None
        for _attempt in range(3):  # the free port may be taken in between
            self.port = free_port()
            self.log_path = self.run.path("moto-%d.log" % self.port)
            home = self.run.mkdtemp("moto-home-")
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [exe, "-H", "127.0.0.1", "-p", str(self.port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=clean_env({"HOME": home}),
                    start_new_session=True,
                )
            if self._wait_ready():
                return self
            last = self.log_text()[-2000:]
            stop_process(self.proc)
        raise RuntimeError("moto_server did not become ready:\n" + (last or ""))

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                st, _ = http_request(self.url + "/moto-api/data.json", timeout=1.0)
                if st == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        rc = stop_process(self.proc)
        self.proc = None
        return rc

    def _reset_auth(self, value):
        st, body = http_request(self.url + "/moto-api/reset-auth", data=value,
                                headers={"Content-Type": "text/plain"}, method="POST")
        if st != 200:
            raise RuntimeError("reset-auth failed: %d %r" % (st, body[:200]))

    def enable_auth(self):
        """Signature + IAM policy enforcement on, for every request from now."""
        self._reset_auth(b"0")
        self.auth = True

    def disable_auth(self):
        self._reset_auth(b"inf")
        self.auth = False

    def reset(self):
        """Drop every resource (the auth setting stays)."""
        st, _ = http_request(self.url + "/moto-api/reset", data=b"", method="POST")
        if st != 200:
            raise RuntimeError("moto reset failed: %d" % st)

    def client(self, service, access_key_id=None, secret_access_key=None, session_token=None,
               retries=1, endpoint_url=None):
        """A boto3 client for this moto (root keys by default: only while
        auth is off)."""
        return boto_client(service, endpoint_url or self.url, access_key_id or self.ROOT_KEY,
                           secret_access_key or self.ROOT_KEY, session_token, retries=retries)

    @contextlib.contextmanager
    def admin(self):
        """Turn auth off for the block and yield an IAM client with root keys;
        auth goes back on afterwards if it was on."""
        was = self.auth
        if was:
            self.disable_auth()
        try:
            yield self.client("iam")
        finally:
            if was:
                self.enable_auth()


def _trust(principals):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        }],
    })


_CALLER_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["sts:AssumeRole", "sts:GetCallerIdentity", "sts:GetSessionToken",
                   "sts:TagSession", "sts:SetSourceIdentity"],
        "Resource": "*",
    }],
})


def role_arn(name, path="/"):
    return "arn:aws:iam::%s:role%s%s" % (ACCOUNT, path, name)


def session_arn(role_name, session_name):
    """The ARN of a role session; the role path is not part of it."""
    return "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, role_name, session_name)


def add_role(iam, name, trusted, path="/", may_assume=True):
    """Create a role trusted by the principal ARNs in `trusted`; with
    may_assume its own identity policy allows sts:AssumeRole (needed for a
    further hop). Needs auth off (see Moto.admin()). -> role ARN."""
    principals = trusted if isinstance(trusted, str) else list(trusted)
    iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=_trust(principals))
    if may_assume:
        iam.put_role_policy(RoleName=name, PolicyName="chain", PolicyDocument=_CALLER_POLICY)
    return role_arn(name, path)


def seed_chain(moto, session_names=("kr-test",), admin_open=False, enable_auth=True):
    """Create the standard test identities in moto, then turn auth on.

    - user "dev-user" with one access key; identity policy allows
      sts:AssumeRole/GetCallerIdentity/GetSessionToken on "*".
    - "prod"        trust: dev-user.
    - "ops"         path /team/ops/, trust: dev-user.
    - "prod-admin"  trust: the sessions of prod and ops named in
                    session_names (moto does not match a role ARN or the
                    account root against role sessions; list session ARNs),
                    or "*" with admin_open=True (any session name).
    - "ops-admin"   path /team/ops/, trust like prod-admin.
    - "denied"      trust: a user that is not dev-user -> AccessDenied.
    -> dict (see the keys below). The secret is in "secret_access_key": do
    not print it.
    """
    session_names = list(session_names)
    user = "dev-user"
    user_arn = "arn:aws:iam::%s:user/%s" % (ACCOUNT, user)
    was_on = moto.auth
    if was_on:
        moto.disable_auth()
    iam = moto.client("iam")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(UserName=user, PolicyName="caller", PolicyDocument=_CALLER_POLICY)
    roles = {}
    roles["prod"] = add_role(iam, "prod", [user_arn])
    roles["ops"] = add_role(iam, "ops", [user_arn], path="/team/ops/")
    if admin_open:
        admin_trust = "*"
    else:
        admin_trust = [session_arn(r, s) for r in ("prod", "ops") for s in session_names]
        if not admin_trust:
            raise ValueError("seed_chain needs at least one session name")
    roles["prod-admin"] = add_role(iam, "prod-admin", admin_trust)
    roles["ops-admin"] = add_role(iam, "ops-admin", admin_trust, path="/team/ops/")
    other = "arn:aws:iam::%s:user/somebody-else" % ACCOUNT
    iam.create_user(UserName="somebody-else")
    roles["denied"] = add_role(iam, "denied", [other], may_assume=False)
    if enable_auth or was_on:
        moto.enable_auth()
    return {
        "account": ACCOUNT,
        "region": REGION,
        "endpoint": moto.url,
        "user": user,
        "user_arn": user_arn,
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "roles": roles,
        "session_names": session_names,
        "mfa_serial": "arn:aws:iam::%s:mfa/%s" % (ACCOUNT, user),
    }


def mfa_profiles_config(seed, session_name):
    """Two role profiles behind one MFA device, sharing its MFA session:
    [profile mfa-a] (role prod) and [profile mfa-b] (role ops), from dev."""
    return ("\n[profile mfa-a]\nrole_arn = %s\nsource_profile = dev\nmfa_serial = %s\n"
            "role_session_name = %s\n\n[profile mfa-b]\nrole_arn = %s\nsource_profile = dev\n"
            "mfa_serial = %s\nrole_session_name = %s\n"
            % (seed["roles"]["prod"], seed["mfa_serial"], session_name, seed["roles"]["ops"],
               seed["mfa_serial"], session_name))


def chain_config(seed, session_name=None, endpoint_url=None, region=REGION, process_profiles=True):
    """(config_text, credentials_text) for the seeded chain:

      [dev] keys in credentials; [profile prod] role_arn=prod, source_profile=dev;
      [profile prod-admin] -> prod; [profile ops] (path role) ;
      [profile ops-admin] -> ops; [profile denied] -> dev;
      with process_profiles, [profile kr-NAME] credential_process =
      <abs keyrole> get NAME for each chain profile.
    endpoint_url goes into each role profile when given (else the test sets
    AWS_ENDPOINT_URL_STS). role_session_name is set explicitly.
    """
    sn = session_name or seed["session_names"][0]
    r = seed["roles"]
    ep = "endpoint_url = %s\n" % endpoint_url if endpoint_url else ""
    out = ["[profile dev]\nregion = %s\n%s" % (region, ep)]
    hops = [("prod", "prod", "dev"), ("prod-admin", "prod-admin", "prod"),
            ("ops", "ops", "dev"), ("ops-admin", "ops-admin", "ops"), ("denied", "denied", "dev")]
    for prof, role, src in hops:
        out.append("[profile %s]\nrole_arn = %s\nsource_profile = %s\nrole_session_name = %s\n"
                   "region = %s\n%s" % (prof, r[role], src, sn, region, ep))
    if process_profiles:
        for prof, _, _ in hops:
            out.append("[profile kr-%s]\ncredential_process = %s get %s\nregion = %s\n"
                       % (prof, keyrole(), prof, region))
    creds = "[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
        seed["access_key_id"], seed["secret_access_key"])
    return "\n".join(out), creds


# ---------------------------------------------------------------------------
# AWS config files


def _write_private(path, text, uid=None, gid=None):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    if uid is not None:
        os.chown(path, uid, gid)


def write_aws_config(home, text, credentials_text=None, owner=None):
    """Write HOME/.aws/config (and credentials if given), mode 0600, dir 0700.

    text is dedented. owner=(uid, gid) chowns dir and files.
    -> (config_path, credentials_path)."""
    d = os.path.join(home, ".aws")
    os.makedirs(d, mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    uid, gid = owner if owner else (None, None)
    if uid is not None:
        os.chown(d, uid, gid)
    cfg = os.path.join(d, "config")
    creds = os.path.join(d, "credentials")
    _write_private(cfg, textwrap.dedent(text), uid, gid)
    if credentials_text is not None:
        _write_private(creds, textwrap.dedent(credentials_text), uid, gid)
    return cfg, creds


def aws_env(home, socket_path=None, endpoint_url=None, extra=None):
    """The env dict a client call usually needs (for run_client/start_many)."""
    env = {
        "HOME": home,
        "AWS_CONFIG_FILE": os.path.join(home, ".aws", "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, ".aws", "credentials"),
    }
    if socket_path:
        env["KEYROLE_SOCKET"] = socket_path
    if endpoint_url:
        env["AWS_ENDPOINT_URL_STS"] = endpoint_url
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------
# keyroled and keyrole


def kr_request(sock_path, obj, timeout=10.0):
    """Send one protocol frame (doc/protocol.txt) to the daemon -> reply dict."""
    body = json.dumps(obj).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(struct.pack(">I", len(body)) + body)
        hdr = _recv_exact(s, 4)
        (n,) = struct.unpack(">I", hdr)
        if n == 0 or n > 4 * 1024 * 1024:
            raise ValueError("bad reply length %d" % n)
        return json.loads(_recv_exact(s, n))


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            raise ConnectionError("daemon closed the connection after %d bytes" % len(buf))
        buf += c
    return buf


def socket_accepts(path, timeout=0.5):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
        return True
    except OSError:
        return False


class Daemon:
    """keyroled in the foreground with a clean environment.

    Daemon(build, home, sockdir, args=(), env=None, cache="memory",
           log_level="debug", runtime_dir=None, user=None, run=None)
    build None -> build_dir(). Socket: sockdir/agent.sock (sockdir is made
    0700). Environment: PATH, LANG, HOME=home, XDG_RUNTIME_DIR=runtime_dir
    (default: a private dir) + env. stderr+stdout go to a log file.
    user=(uid, gid) runs it as that user (root only). cache/log_level None
    leave the flag out.
    """

    def __init__(self, build, home, sockdir, args=(), env=None, cache="memory",
                 log_level="debug", runtime_dir=None, user=None, run=None):
        self.build = build or build_dir()
        self.home = home
        self.sockdir = sockdir
        self.socket = os.path.join(sockdir, "agent.sock")
        self.args = list(args or ())
        self.extra_env = dict(env or {})
        self.cache = cache
        self.log_level = log_level
        self.user = user
        self.run = run
        self._own_tmp = None
        if runtime_dir is None:
            if run is not None:
                runtime_dir = run.mkdtemp("xdg-")
            else:
                runtime_dir = self._own_tmp = tempfile.mkdtemp(prefix="krtest-xdg-", dir="/tmp")
        self.runtime_dir = runtime_dir
        self.log_path = os.path.join(os.path.dirname(os.path.abspath(sockdir)),
                                     "keyroled-%s.log" % os.path.basename(sockdir))
        self.proc = None
        self.returncode = None

    def argv(self):
        a = [os.path.join(self.build, "keyroled"), "--socket", self.socket]
        if self.cache:
            a += ["--cache", self.cache]
        if self.log_level:
            a += ["--log-level", self.log_level]
        return a + self.args

    def env(self):
        return clean_env({"HOME": self.home, "XDG_RUNTIME_DIR": self.runtime_dir,
                          **self.extra_env})

    def start(self, timeout=10.0):
        exe = os.path.join(self.build, "keyroled")
        require_file(exe, "keyroled")
        os.makedirs(self.sockdir, mode=0o700, exist_ok=True)
        os.chmod(self.sockdir, 0o700)
        kw = {}
        if self.user:
            uid, gid = self.user[0], self.user[1]
            if self.run is not None:  # let the user reach its dirs inside the run
                os.chmod(self.run.dir, 0o711)
            for d in (self.sockdir, self.runtime_dir):
                os.chown(d, uid, gid)
                if os.path.dirname(d) not in ("", "/tmp"):
                    os.chmod(os.path.dirname(d), os.stat(os.path.dirname(d)).st_mode | 0o011)
            kw = {"user": uid, "group": gid, "extra_groups": []}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env(),
                                         cwd="/", **kw)
        ok = wait_until(lambda: self.proc.poll() is not None or socket_accepts(self.socket),
                        timeout=timeout)
        if not ok or self.proc.poll() is not None:
            rc = self.stop()
            raise RuntimeError("keyroled did not start (exit %r); log:\n%s"
                               % (rc, self.log_text()[-3000:]))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, obj, timeout=10.0):
        return kr_request(self.socket, obj, timeout)

    def wait_keyring_idle(self, timeout=30.0, status=None):
        """Until the daemon's keyring calls are done (status "keyring_queue" 0):
        sessions are written through asynchronously. -> True when they are.
        status: a function -> the status reply (for a daemon of another user,
        who alone may talk to it); default: ask over the socket."""
        def idle():
            r = status() if status else self.request({"v": 1, "op": "status"})
            return r.get("keyring_queue") == 0
        return wait_until(idle, timeout=timeout)

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=5.0):
        """SIGTERM, wait, SIGKILL. -> exit status (negative = signal)."""
        if self.proc is not None:
            self.returncode = stop_process(self.proc, timeout)
            self.proc = None
        if self._own_tmp:
            shutil.rmtree(self._own_tmp, ignore_errors=True)
            self._own_tmp = None
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def _text(x):
    return x.encode() if isinstance(x, str) else x


def run_client(args, env=None, input=None, timeout=30, build=None):  # noqa: A002
    """Run $KR_BUILD/keyrole ARGS with clean_env(env). -> CompletedProcess
    with str stdout/stderr. input may be str or bytes."""
    argv = [os.path.join(build or build_dir(), "keyrole")] + list(args)
    p = subprocess.run(argv, env=clean_env(env), input=_text(input), capture_output=True,
                       timeout=timeout, cwd="/", stdin=None if input is not None else
                       subprocess.DEVNULL)
    return subprocess.CompletedProcess(p.args, p.returncode,
                                       p.stdout.decode("utf-8", "replace"),
                                       p.stderr.decode("utf-8", "replace"))


class Result:
    """One process of start_many(): rc (None if killed on timeout), stdout,
    stderr (str), elapsed (s from the common release), timed_out."""

    def __init__(self, rc, stdout, stderr, elapsed, timed_out):
        self.rc = rc
        self.returncode = rc
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.timed_out = timed_out

    def __repr__(self):
        return "Result(rc=%r, elapsed=%.3f, timed_out=%r)" % (self.rc, self.elapsed,
                                                             self.timed_out)


# The wrapper each child runs first: report ready, block on the go pipe,
# then exec the real command. Exec keeps the PID, so kill-by-PID works.
_BARRIER = (
    "import os,sys\n"
    "r,w=int(sys.argv[1]),int(sys.argv[2])\n"
    "os.write(w,b'.');os.close(w)\n"
    "os.read(r,1);os.close(r)\n"
    "os.execvp(sys.argv[3],sys.argv[3:])\n"
)


def start_many(cmds, env=None, input=None, timeout=30.0, ready_timeout=20.0):  # noqa: A002
    """Start every command in cmds (lists of argv) so that they begin at the
    same instant, and collect a Result for each, in order.

    env: one dict (clean_env(env)) for all, or a list of dicts, one per cmd.
    Each child first blocks on a shared pipe; once all are blocked the pipe
    is closed and they exec together. A child still running `timeout`
    seconds after the release is killed (Result.timed_out)."""
    cmds = [list(c) for c in cmds]
    envs = env if isinstance(env, list) else [env] * len(cmds)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    rd_r, rd_w = os.pipe2(os.O_CLOEXEC)
    procs = []
    try:
        for c, e in zip(cmds, envs):
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _BARRIER, str(go_r), str(rd_w)] + c,
                env=clean_env(e), pass_fds=(go_r, rd_w),
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/"))
        os.close(rd_w)
        rd_w = -1
        got = 0
        deadline = time.monotonic() + ready_timeout
        while got < len(procs) and time.monotonic() < deadline:
            r, _, _ = select.select([rd_r], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(rd_r, 4096)
            if not chunk:
                break
            got += len(chunk)
        if got < len(procs):
            raise RuntimeError("start_many: only %d of %d children reached the barrier"
                               % (got, len(procs)))
        results = [None] * len(procs)
        t0 = time.monotonic()
        os.close(go_w)  # release: every child's read() returns EOF now
        go_w = -1

        def collect(i, p):
            try:
                out, err = p.communicate(_text(input), timeout=timeout)
                results[i] = Result(p.returncode, out.decode("utf-8", "replace"),
                                    err.decode("utf-8", "replace"),
                                    time.monotonic() - t0, False)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                results[i] = Result(None, out.decode("utf-8", "replace"),
                                    err.decode("utf-8", "replace"),
                                    time.monotonic() - t0, True)

        threads = [threading.Thread(target=collect, args=(i, p)) for i, p in enumerate(procs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 10)
        return results
    finally:
        for fd in (go_r, go_w, rd_r, rd_w):
            if fd >= 0:
                os.close(fd)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)


# ---------------------------------------------------------------------------
# Secret Service: a private D-Bus session bus + gnome-keyring-daemon

_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class KeyringSession:
    """A private session bus with gnome-keyring-daemon (secrets component).

    The bus config has no service directories, so nothing is D-Bus
    activated: no second keyring daemon, no prompter; a locked collection
    fails at once instead of waiting for a prompt. With unlock=True the
    "login" collection is created and unlocked with `password` (it is the
    default collection); locked=True then locks it (Secret Service Lock
    call), so lookups find nothing and stores fail with "locked
    collection"; lock() and unlock_collection() do that at any time. unlock=False leaves a fresh HOME with no collection at all.
    user=(uid, gid) runs bus and keyring as that user (root only).
    env() -> {"DBUS_SESSION_BUS_ADDRESS": ...} for the daemon and tools.
    """

    def __init__(self, run, password="krtest-pw", unlock=True, locked=False, user=None,
                 home=None):
        self.run = run
        self.password = password
        self.unlock = unlock
        self.locked_at_start = locked
        self.user = user
        self.dir = run.mkdtemp("keyring-")
        self.home = home or os.path.join(self.dir, "home")
        self.runtime_dir = os.path.join(self.dir, "run")
        self.address = None
        self.bus = None
        self.gk = None
        self.log_path = os.path.join(self.dir, "keyring.log")

    def _kw(self):
        if not self.user:
            return {}
        return {"user": self.user[0], "group": self.user[1], "extra_groups": []}

    def _base_env(self):
        return clean_env({"HOME": self.home, "XDG_RUNTIME_DIR": self.runtime_dir})

    def env(self):
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def full_env(self):
        e = self._base_env()
        e.update(self.env())
        return e

    def start(self, timeout=10.0):
        for exe in ("dbus-daemon", "gnome-keyring-daemon", "gdbus"):
            if not shutil.which(exe, path=CALLER_ENV.get("PATH")):
                raise Skip("%s not installed (apt-get install dbus gnome-keyring "
                           "libglib2.0-bin)" % exe)
        for d in (self.home, self.runtime_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o711 if self.user else 0o700)
        if self.user:  # the user must be able to reach its dirs inside the run
            os.chmod(self.run.dir, 0o711)
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(_BUS_CONF.format(path=os.path.join(self.runtime_dir, "bus")))
        os.chmod(conf, 0o644)
        if self.user:
            for d in (self.home, self.runtime_dir):
                os.chown(d, self.user[0], self.user[1])
        r, w = os.pipe2(os.O_CLOEXEC)
        log = open(self.log_path, "ab")
        try:
            self.bus = subprocess.Popen(
                ["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile",
                 "--print-address=%d" % w],
                pass_fds=(w,), env=self._base_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, cwd="/", **self._kw())
            os.close(w)
            w = -1
            addr = b""
            deadline = time.monotonic() + timeout
            while not addr.endswith(b"\n") and time.monotonic() < deadline:
                rr, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
                if not rr:
                    break
                c = os.read(r, 4096)
                if not c:
                    break
                addr += c
            self.address = addr.decode().strip()
            if not self.address:
                raise RuntimeError("dbus-daemon printed no address")
            argv = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
            if self.unlock:
                argv.append("--unlock")
            self.gk = subprocess.Popen(argv, env=self.full_env(), stdin=subprocess.PIPE,
                                       stdout=log, stderr=log, cwd="/", **self._kw())
            if self.unlock:
                self.gk.stdin.write(self.password.encode())
            self.gk.stdin.close()
        finally:
            log.close()
            os.close(r)
            if w >= 0:
                os.close(w)
        # Ready when org.freedesktop.secrets is owned by our keyring's PID.
        if not wait_until(lambda: self.gk.poll() is not None or self._owner() == self.gk.pid,
                          timeout=timeout) or self.gk.poll() is not None:
            self.stop()
            raise RuntimeError("gnome-keyring-daemon did not start:\n" + self.log_text())
        if self.unlock and self.locked_at_start:
            self.lock()
        return self

    def _gdbus(self, *args, timeout=10):
        return subprocess.run(["gdbus", "call", "--session"] + list(args),
                              env=self.full_env(), capture_output=True, text=True,
                              timeout=timeout, **self._kw())

    def _owner(self):
        p = self._gdbus("--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                        "--method", "org.freedesktop.DBus.GetConnectionUnixProcessID",
                        "org.freedesktop.secrets")
        if p.returncode != 0:
            return None
        try:
            return int(p.stdout.strip().strip("(),").split()[-1])
        except (ValueError, IndexError):
            return None

    def lock(self, collection="/org/freedesktop/secrets/collection/login"):
        p = self._gdbus("--dest", "org.freedesktop.secrets", "--object-path",
                        "/org/freedesktop/secrets", "--method",
                        "org.freedesktop.Secret.Service.Lock", "['%s']" % collection)
        if p.returncode != 0:
            raise RuntimeError("Secret Service Lock failed: " + p.stderr)

    def unlock_collection(self, collection="/org/freedesktop/secrets/collection/login"):
        """Unlock with the password, without a prompter (build/tests/tools/ss_unlock)."""
        exe = require_file(tool("ss_unlock"), "ss_unlock")
        p = subprocess.run([exe, collection], input=self.password, env=self.full_env(),
                           capture_output=True, text=True, timeout=10, **self._kw())
        if p.returncode != 0:
            raise RuntimeError("unlock failed: " + p.stderr)

    def monitor(self, path):
        """dbus-monitor of the whole bus into path (the bus allows eavesdropping)
        -> Popen; stop it with stop_process()."""
        out = open(path, "w")
        try:
            return subprocess.Popen(["dbus-monitor", "--address", self.address], stdout=out,
                                    stderr=subprocess.STDOUT, env=self.full_env(), **self._kw())
        finally:
            out.close()

    def is_locked(self, collection="/org/freedesktop/secrets/aliases/default"):
        """True/False, or None when there is no such collection."""
        p = self._gdbus("--dest", "org.freedesktop.secrets", "--object-path", collection,
                        "--method", "org.freedesktop.DBus.Properties.Get",
                        "org.freedesktop.Secret.Collection", "Locked")
        if p.returncode != 0:
            return None
        return "true" in p.stdout

    def secret_tool(self, args, input=None, timeout=10):  # noqa: A002
        """Run secret-tool ARGS on this bus -> CompletedProcess (str output)."""
        return subprocess.run(["secret-tool"] + list(args), env=self.full_env(),
                              input=input, capture_output=True, text=True, timeout=timeout,
                              **self._kw())

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        stop_process(self.gk)
        stop_process(self.bus)
        self.gk = self.bus = None


# ---------------------------------------------------------------------------
# A second, unprivileged user


def ensure_test_user(name=TEST_USER):
    """-> (uid, gid, name) of a system user, created with useradd if missing.

    Raises Skip when not root (cannot create users) and the user is absent."""
    try:
        pw = pwd.getpwnam(name)
        return pw.pw_uid, pw.pw_gid, name
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise Skip("test user %r missing and not root (cannot useradd)" % name)
    useradd = shutil.which("useradd", path=CALLER_ENV.get("PATH", "") + ":/usr/sbin:/sbin")
    if not useradd:
        raise Skip("useradd not installed (apt-get install passwd)")
    p = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       capture_output=True, text=True, timeout=30)
    try:  # another scenario may have created it at the same time (exit 9)
        pw = pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError("useradd %s failed (%d): %s" % (name, p.returncode, p.stderr))
    return pw.pw_uid, pw.pw_gid, name


def reset_user_keyrings(user):
    """Empty the kernel keyrings of the test user (ours alone) before a keyctl
    test: keys of earlier runs, and what the kernel still charges for keyrings
    that once held many keys (seen: 13.5 KB on two empty-looking keyrings,
    released only by a clear), count against its 20,000-byte quota."""
    name = user[2] if isinstance(user, tuple) else user
    runuser = shutil.which("runuser", path=CALLER_ENV.get("PATH", "") + ":/usr/sbin:/sbin")
    keyctl = shutil.which("keyctl", path=CALLER_ENV.get("PATH", "") + ":/usr/bin:/bin")
    if not runuser or not keyctl:
        return
    subprocess.run([runuser, "-u", name, "--", "sh", "-c",
                    "%s clear @u; %s clear @us" % (keyctl, keyctl)],
                   capture_output=True, timeout=30, cwd="/", env=clean_env(),
                   stdin=subprocess.DEVNULL)


def user_dirs(run, user):
    """(home, runtime_dir) owned by user=(uid, gid, ...), mode 0700, under a
    0711 dir of the run (the run dir itself is made 0711 so they can reach it)."""
    uid, gid = user[0], user[1]
    os.chmod(run.dir, 0o711)
    base = run.mkdtemp("user-")
    os.chmod(base, 0o711)
    home = os.path.join(base, "home")
    rt = os.path.join(base, "run")
    for d in (home, rt):
        os.mkdir(d, 0o700)
        os.chown(d, uid, gid)
    return home, rt


def run_as_user(user, cmd, home, runtime_dir, env=None, input=None, timeout=30):  # noqa: A002
    """Run cmd as user (name or (uid, gid, name)) with runuser -u, in an
    environment of clean_env() + HOME, XDG_RUNTIME_DIR, USER, LOGNAME + env.
    -> CompletedProcess with str output."""
    name = user[2] if isinstance(user, tuple) else user
    e = clean_env({"HOME": home, "XDG_RUNTIME_DIR": runtime_dir, "USER": name,
                   "LOGNAME": name, **(env or {})})
    runuser = shutil.which("runuser", path=CALLER_ENV.get("PATH", "") + ":/usr/sbin:/sbin")
    if not runuser:
        raise Skip("runuser not installed (util-linux)")
    argv = [runuser, "-u", name, "--", "env", "-i"] + ["%s=%s" % kv for kv in e.items()]
    argv += list(cmd)
    p = subprocess.run(argv, input=_text(input), capture_output=True, timeout=timeout, cwd="/",
                       env=clean_env(), stdin=None if input is not None else subprocess.DEVNULL)
    return subprocess.CompletedProcess(p.args, p.returncode,
                                       p.stdout.decode("utf-8", "replace"),
                                       p.stderr.decode("utf-8", "replace"))


def is_root():
    return os.geteuid() == 0


__all__ = [
    "ACCOUNT", "REGION", "TEST_USER", "CALLER_ENV", "FAULT_KINDS", "FaultProxy", "Skip", "Tap",
    "Run", "main", "Moto", "Daemon", "KeyringSession", "Result", "add_role", "aws_env",
    "boto_client", "build_dir", "chain_config", "clean_env", "data_dir", "ensure_test_user",
    "reset_user_keyrings",
    "free_port", "http_request", "is_root", "keyrole", "keyroled", "kr_request", "repo_root",
    "require_file", "role_arn", "run_as_user", "run_client", "seed_chain", "session_arn",
    "socket_accepts", "start_many", "stop_process", "test_bin", "tool", "user_dirs",
    "wait_until", "write_aws_config",
]
