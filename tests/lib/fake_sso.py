"""A local fake of IAM Identity Center: the portal API (service "sso") and
the OIDC API (service "sso-oidc"), 2019-06-10, as botocore's service models
describe them (rest-json, unsigned; the portal takes the access token in the
x-amz-sso_bearer_token header). For scenario tests of keyroled's SSO source.

Start one (it listens at once; stop() it, or hand it to run.adopt()):

    moto = run.moto()
    fake = run.adopt(FakeSSO(moto=moto))          # or tls=make_cert(run): HTTPS
    fake.add_user("alice")                        # at fake.start_url
    fake.add_role("111111111111", "Developer", users=["alice"])  # a moto role
    fake.add_role("111111111111", "Admin", users=["alice"], moto=False)
    moto.enable_auth()                            # after the roles exist
    tok = fake.issue_token("alice")               # as after "aws sso login"
    write_cli_token_cache(home, tok, session_name="corp")
    env = dict(krtest.aws_env(home, endpoint_url=moto.url), **fake.env())
    ... keyrole/botocore with env ...
    fake.count("GetRoleCredentials"), fake.requests()
    fake.session_arn("111111111111", "Developer", "alice")  # what STS names

Two listeners on 127.0.0.1, one per API, so that a client that mixes up the
two endpoints fails: fake.portal_url answers GetRoleCredentials, ListAccounts,
ListAccountRoles and Logout; fake.oidc_url answers RegisterClient,
StartDeviceAuthorization, CreateToken and the verification page (/device).
fake.env() -> {"AWS_ENDPOINT_URL_SSO": portal_url, "AWS_ENDPOINT_URL_SSO_OIDC":
oidc_url}: what botocore (and keyrole) read.

Directory (what a test scripts; thread-safe, may change at any time):
    fake.add_user("alice", start_url=None)     start_url: fake.start_url
    fake.add_account("111111111111", name=None, email=None)
    fake.add_role("111111111111", "Developer", users=["alice"])
        With moto given, the role is a real moto role: in that account
        (moto keeps one IAM per account id) the fake creates
        /aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_<hex>,
        trusted by its own broker IAM user, with an identity policy allowing
        sts:AssumeRole, sts:GetCallerIdentity, ... (policy= replaces it).
        GetRoleCredentials then returns a session the broker gets from moto's
        AssumeRole (RoleSessionName = the user's name, DurationSeconds =
        role_ttl): get-caller-identity with it names
        fake.session_arn(account, role, user), and a role whose trust policy
        lists that session ARN can be assumed with it (chaining, see
        fake.moto_iam()). add_role(..., role_arn=ARN, caller=(key, secret))
        maps to an existing moto role instead (e.g. seed_chain's "prod" with
        dev-user's keys). Without moto (or moto=False) the credentials are
        random and expire after role_ttl, and moto refuses them.
        Call add_role while moto's auth is off, or let it toggle auth
        (Moto.admin()) before any traffic starts.
    fake.assign(user, account_id, role_name)   (add_role's users= does it)

Tokens, registrations, device logins:
    tok = fake.issue_token("alice", ttl=3600, refresh=True, scopes=...)
        as if alice had logged in: a dict with accessToken, expiresAt,
        refreshToken, clientId, clientSecret, registrationExpiresAt (aware
        datetimes), startUrl, region: what write_cli_token_cache() takes.
        ttl may be negative (already expired).
    fake.register_client("name", ttl=None, scopes=()) -> {"clientId",
        "clientSecret", "expiresAt"}
    fake.expire_token(tok), fake.revoke(tok) (what Logout does: the access
        token and every token of that login, refresh tokens included),
        fake.expire_refresh(refresh_token), fake.expire_registration(client_id),
        fake.token_valid(tok), fake.refresh_valid(rt)
    Device flow: StartDeviceAuthorization answers verificationUriComplete
        = oidc_url + "/device?user_code=ABCD-EFGH". A GET of it does
        fake.verification_action ("approve", default: the login is the
        first user of that start URL, or fake.approve_as; "deny"; "none").
        CreateToken (device_code grant) answers authorization_pending until
        then, access_denied after a denial, expired_token after device_ttl,
        invalid_grant once the code was exchanged. fake.approve(user_code=
        None, user=None), fake.deny(...), fake.expire_device(...) do it
        without a browser (None: the newest pending login). fake.devices()
        -> [{user_code, start_url, client_name, state, interval, polls:
        [time.time(), ...], too_fast, user}] (too_fast: polls that came
        sooner than the interval in force, slow_down's 5 s included;
        enforce_interval=True answers them slow_down as RFC 8628 allows).
    Refresh: CreateToken refresh_token grant gives a new access token and,
        with rotate_refresh (default), a new refresh token and the old one
        stops working. With refresh_scope="sso:account:access" a device
        login issues a refresh token only to registrations with that scope.

Faults, on demand (all thread-safe):
    fail_next(n, kind, api=None, after=0)   the next n requests of that API
        (after letting `after` of them through) get: "429"
        TooManyRequestsException, "401" UnauthorizedException (portal) /
        InvalidClientException (OIDC), "500" InternalServerException, "503"
        plain text, "drop" (connection closed, no answer), "slow_down",
        "authorization_pending", "access_denied", "expired_token",
        "invalid_grant" (OIDC error bodies). A slow_down also adds 5 s to
        that device's interval, as the real service's does.
    delay(seconds, api=None), hold(api=None) / release()

Counters and log (never a token, secret, device code or client id):
    counts() -> {"total": N, "GetRoleCredentials": N, "CreateToken": N,
        "CreateToken:refresh_token": N, "CreateToken:device_code": N, ...,
        "Verify": N}; count(api), reset_counts(), wait_for(n, api, timeout),
    requests() -> [{api, server, time, status, error, fault, user,
        account_id, role_name, client_name, scopes, grant_type, start_url,
        user_code, max_result, next_token (bool)}]
    issued_secrets() -> every secret the fake handed out (for a test that
        greps logs and files for them).

The AWS CLI's token cache ("someone ran aws sso login"):
    write_cli_token_cache(home, tok, session_name="corp")  # sso-session
    write_cli_token_cache(home, tok, start_url=URL)         # legacy profile
    -> HOME/.aws/sso/cache/<sha1>.json with exactly the fields and format
    the CLI v2 writes (botocore/utils.py SSOTokenFetcher, tokens.py).
    write_cli_registration_cache() writes the CLI's client registration file.

AWS CLI v2.9 (Debian) does not honour AWS_ENDPOINT_URL_SSO*. With tls made
by make_cert(run, region) (names portal.sso.REGION.amazonaws.com etc.) and
proxy=True, fake.proxy_env() -> {"HTTPS_PROXY", "AWS_CA_BUNDLE"}: a CONNECT
proxy that tunnels the real host names to the two listeners.
"""

import datetime
import hashlib
import http.server
import json
import os
import secrets
import select
import shutil
import socket
import ssl
import string
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

DEFAULT_START_URL = "https://d-fake000001.awsapps.com/start"
REFRESH_SCOPE = "sso:account:access"

PORTAL_APIS = ("GetRoleCredentials", "ListAccounts", "ListAccountRoles", "Logout")
OIDC_APIS = ("RegisterClient", "StartDeviceAuthorization", "CreateToken", "Verify")

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"

FAULT_KINDS = ("429", "401", "500", "503", "drop", "slow_down", "authorization_pending",
               "access_denied", "expired_token", "invalid_grant")

# OIDC errors: x-amzn-ErrorType (botocore's error code) and the body's "error".
_OIDC_ERRORS = {
    "authorization_pending": (400, "AuthorizationPendingException", "authorization_pending"),
    "slow_down": (400, "SlowDownException", "slow_down"),
    "access_denied": (400, "AccessDeniedException", "access_denied"),
    "expired_token": (400, "ExpiredTokenException", "expired_token"),
    "invalid_grant": (400, "InvalidGrantException", "invalid_grant"),
    "invalid_request": (400, "InvalidRequestException", "invalid_request"),
    "invalid_client": (401, "InvalidClientException", "invalid_client"),
    "invalid_client_metadata": (400, "InvalidClientMetadataException", "invalid_client_metadata"),
    "unsupported_grant_type": (400, "UnsupportedGrantTypeException", "unsupported_grant_type"),
    "server_error": (500, "InternalServerException", "server_error"),
}

# Portal errors: x-amzn-ErrorType and {"message": ...}.
_PORTAL_ERRORS = {
    "unauthorized": (401, "UnauthorizedException", "Session token not found or invalid"),
    "forbidden": (403, "ForbiddenException", "No access"),
    "not_found": (404, "ResourceNotFoundException", "Resource not found"),
    "invalid_request": (400, "InvalidRequestException", "Invalid request"),
    "too_many": (429, "TooManyRequestsException", "Too many requests"),
    "server_error": (500, "InternalServerException", "Internal error"),
}

_MAX_BODY = 1024 * 1024
# A request record: nothing secret (no token, secret, device code, client id).
_RECORD_KEYS = ("api", "server", "time", "status", "error", "fault", "user", "account_id",
                "role_name", "client_name", "scopes", "grant_type", "start_url", "user_code",
                "max_result", "next_token")
_HOLD_MAX_S = 60.0
_POLL_TOLERANCE_S = 0.25  # a poll this much early still counts as on time
_SLOW_DOWN_S = 5          # RFC 8628 section 3.5

_BROKER_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow",
                   "Action": ["sts:AssumeRole", "sts:TagSession", "sts:GetCallerIdentity"],
                   "Resource": "*"}],
})
_ROLE_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow",
                   "Action": ["sts:AssumeRole", "sts:GetCallerIdentity", "sts:GetSessionToken",
                              "sts:TagSession", "sts:SetSourceIdentity"],
                   "Resource": "*"}],
})


class _Err(Exception):
    """An error answer: status, x-amzn-ErrorType, JSON body, log code."""

    def __init__(self, status, etype, body, code):
        super().__init__(code)
        self.status, self.etype, self.body, self.code = status, etype, body, code


def _oidc_err(name, desc=None):
    status, etype, err = _OIDC_ERRORS[name]
    body = {"error": err}
    if desc:
        body["error_description"] = desc
    return _Err(status, etype, body, err)


def _portal_err(name, msg=None):
    status, etype, m = _PORTAL_ERRORS[name]
    return _Err(status, etype, {"message": msg or m}, etype)


def _fault_err(kind, server):
    """The error a fail_next() kind gives on that server (None: not an error)."""
    if kind == "429":
        return _portal_err("too_many")
    if kind == "500":
        return _portal_err("server_error") if server == "portal" else _oidc_err("server_error")
    if kind == "401":
        return _portal_err("unauthorized") if server == "portal" else _oidc_err("invalid_client")
    if kind in _OIDC_ERRORS:
        return _oidc_err(kind)
    return None


def _utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)


def _rand(n):
    return secrets.token_urlsafe(n)


def _user_code():
    alpha = "BCDFGHJKLMNPQRSTVWXZ"
    s = "".join(secrets.choice(alpha) for _ in range(8))
    return s[:4] + "-" + s[4:]


def _access_key():
    return "ASIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    tls_ctx = None

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, not in accept().
        if self.tls_ctx is not None:
            try:
                request.settimeout(10)
                request = self.tls_ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client that goes away is no test failure


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    fake = None     # set on the bound subclass
    server_kind = None  # "portal" or "oidc"

    def log_message(self, format, *args):  # noqa: A002 - base class name
        pass

    def setup(self):
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.fake._track(self.connection, False)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length", "0") or "0")
        if n < 0 or n > _MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, ctype="application/json", etype=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if etype:
            self.send_header("x-amzn-ErrorType", etype)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _any(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(400, {"message": "bad request body"})
            return
        u = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True)
                 .items()}
        api = self.fake._route(self.server_kind, self.command, u.path)
        rec = self.fake._arrived(api, self.server_kind)
        if api is None:
            rec["status"] = 404
            self._send(404, {"message": "no such API here: %s %s" % (self.command, u.path)})
            return
        self.fake._wait_rules(api)
        try:
            status, out, ctype = self.fake._dispatch(api, self.server_kind, query,
                                                     self.headers, body, rec)
        except _DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        except _Err as e:
            rec["status"], rec["error"] = e.status, e.code
            self._send(e.status, e.body, etype=e.etype)
            return
        rec["status"] = status
        self._send(status, out, ctype=ctype)

    do_GET = _any
    do_POST = _any
    do_PUT = _any
    do_DELETE = _any


class _DropConnection(Exception):
    pass


class _ConnectHandler(http.server.BaseHTTPRequestHandler):
    """CONNECT host:443 for the real IAM Identity Center host names, tunnelled
    to the fake's listeners (the TLS inside is the fake's own)."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    fake = None

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _refuse(self, status, why):
        body = ("fake_sso proxy: %s\n" % why).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        target = self.fake._connect_target(host.lower(), port)
        with self.fake._lock:
            self.fake._connects.append({"target": self.path, "ok": target is not None,
                                        "time": time.time()})
        if target is None:
            self._refuse(403, "not an IAM Identity Center host of this fake: %s" % self.path)
            return
        try:
            up = socket.create_connection(("127.0.0.1", target), timeout=30)
        except OSError:
            self._refuse(502, "cannot connect")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        socks = [self.connection, up]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 30)
                if not ready:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            up.close()

    def do_GET(self):
        self._refuse(405, "only CONNECT")

    do_POST = do_GET


def make_cert(run, region="us-east-1", extra_names=()):
    """A self-signed certificate for 127.0.0.1 and the real IAM Identity
    Center host names of region (portal.sso.R.amazonaws.com,
    oidc.R.amazonaws.com, device.sso.R.amazonaws.com) -> (cert, key) paths.
    Needs the openssl command (krtest.make_cert has IP:127.0.0.1 only)."""
    import krtest  # noqa: E402 - only for Skip and CALLER_ENV
    if not shutil.which("openssl", path=krtest.CALLER_ENV.get("PATH")):
        raise krtest.Skip("openssl command not installed (apt-get install openssl)")
    names = ["portal.sso.%s.amazonaws.com" % region, "oidc.%s.amazonaws.com" % region,
             "device.sso.%s.amazonaws.com" % region] + list(extra_names)
    san = ",".join(["IP:127.0.0.1", "DNS:localhost"] + ["DNS:" + n for n in names])
    d = run.mkdtemp("sso-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=" + san,
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


class FakeSSO:
    """See the module docstring. FakeSSO(...) is started; stop() stops it."""

    def __init__(self, moto=None, tls=None, proxy=False, region="us-east-1",
                 start_url=DEFAULT_START_URL, page_size=2, token_ttl=3600, role_ttl=3600,
                 registration_ttl=90 * 86400, device_ttl=600, device_interval=1,
                 rotate_refresh=True, refresh_scope=None, enforce_interval=False):
        self.moto = moto or None
        self.tls = tls
        self.region = region
        self.start_url = start_url
        self.page_size = page_size
        self.token_ttl = token_ttl
        self.role_ttl = role_ttl
        self.registration_ttl = registration_ttl
        self.device_ttl = device_ttl
        self.device_interval = device_interval
        self.rotate_refresh = rotate_refresh
        self.refresh_scope = refresh_scope
        self.enforce_interval = enforce_interval
        self.verification_action = "approve"
        self.approve_as = None
        self._salt = secrets.token_hex(4)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._users = {}        # name -> {"name", "start_url"}
        self._accounts = {}     # account_id -> {"accountId", "accountName", "emailAddress"}
        self._roles = {}        # (account_id, role_name) -> role dict
        self._clients = {}      # client_id -> registration dict
        self._access = {}       # access token -> dict(user, expires, login, client_id)
        self._refresh = {}      # refresh token -> dict(user, expires, login, client_id, valid)
        self._revoked_logins = set()
        self._devices = []      # device dicts, oldest first
        self._pages = {}        # next token -> (kind, user, account_id, offset)
        self._records = []
        self._connects = []
        self._faults = []       # [remaining, kind, api, skip]
        self._delays = {}
        self._hold_api = None
        self._holding = False
        self._gate = threading.Event()
        self._gate.set()
        self._conns = set()
        self._secrets = set()
        self._broker = None
        self._sts_clients = {}
        self._servers = []
        self.portal_port = self.oidc_port = self.proxy_port = None
        ctx = None
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls[0], tls[1])
        for kind in ("portal", "oidc"):
            handler = type("_Bound" + kind, (_Handler,), {"fake": self, "server_kind": kind})
            srv = _Server(("127.0.0.1", 0), handler)
            srv.tls_ctx = ctx
            self._servers.append(srv)
        self.portal_port = self._servers[0].server_address[1]
        self.oidc_port = self._servers[1].server_address[1]
        if proxy:
            if not tls:
                raise ValueError("proxy=True needs tls (a cert for the real host names)")
            handler = type("_BoundConnect", (_ConnectHandler,), {"fake": self})
            srv = _Server(("127.0.0.1", 0), handler)
            self._servers.append(srv)
            self.proxy_port = srv.server_address[1]
        self._threads = []
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 daemon=True)
            t.start()
            self._threads.append(t)

    # ---- addresses --------------------------------------------------------

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def portal_url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.portal_port)

    @property
    def oidc_url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.oidc_port)

    @property
    def proxy_url(self):
        return "http://127.0.0.1:%d" % self.proxy_port if self.proxy_port else None

    def env(self):
        """The endpoint overrides botocore (and keyrole) honour."""
        return {"AWS_ENDPOINT_URL_SSO": self.portal_url,
                "AWS_ENDPOINT_URL_SSO_OIDC": self.oidc_url}

    def proxy_env(self):
        """For clients that use the real host names (AWS CLI v2.9)."""
        if not self.proxy_port:
            raise ValueError("start the fake with tls=make_cert(run) and proxy=True")
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url,
                "AWS_CA_BUNDLE": self.tls[0]}

    def _connect_target(self, host, port):
        if port != "443":
            return None
        r = self.region
        if host == "portal.sso.%s.amazonaws.com" % r:
            return self.portal_port
        if host in ("oidc.%s.amazonaws.com" % r, "device.sso.%s.amazonaws.com" % r):
            return self.oidc_port
        return None

    def connects(self):
        with self._lock:
            return [dict(c) for c in self._connects]

    # ---- life cycle -------------------------------------------------------

    def stop(self):
        self.release()
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(5)
        self._servers, self._threads = [], []
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _track(self, conn, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # ---- directory --------------------------------------------------------

    def add_user(self, name, start_url=None):
        with self._lock:
            self._users[name] = {"name": name, "start_url": start_url or self.start_url}
        return name

    def add_account(self, account_id, name=None, email=None):
        with self._lock:
            self._accounts[account_id] = {
                "accountId": account_id,
                "accountName": name or "account-%s" % account_id,
                "emailAddress": email or "aws+%s@example.com" % account_id,
            }
        return account_id

    def add_role(self, account_id, role_name, users=(), moto=True, role_arn=None, caller=None,
                 policy=None):
        """An assignable role (permission set) in account_id; see the module
        docstring for what it maps to in moto. -> the moto role ARN or None."""
        if account_id not in self._accounts:
            self.add_account(account_id)
        arn = role_arn
        if arn is None and moto and self.moto is not None:
            arn = self._create_moto_role(account_id, role_name, policy)
        with self._lock:
            self._roles[(account_id, role_name)] = {
                "account_id": account_id, "role_name": role_name, "arn": arn,
                "caller": caller, "users": set(users), "sts": None,
            }
        return arn

    def assign(self, user, account_id, role_name):
        with self._lock:
            self._roles[(account_id, role_name)]["users"].add(user)

    def reserved_role_name(self, account_id, role_name):
        h = hashlib.sha1(("%s/%s/%s" % (self._salt, account_id, role_name)).encode())
        return "AWSReservedSSO_%s_%s" % (role_name, h.hexdigest()[:16])

    def role_arn(self, account_id, role_name):
        with self._lock:
            return self._roles[(account_id, role_name)]["arn"]

    def session_arn(self, account_id, role_name, user):
        """The assumed-role ARN get-caller-identity shows for user's session."""
        arn = self.role_arn(account_id, role_name)
        name = arn.rsplit("/", 1)[-1]
        return "arn:aws:sts::%s:assumed-role/%s/%s" % (arn.split(":")[4], name, user)

    def _iam_for(self, account_id):
        """An IAM client for account_id in moto (auth must be off)."""
        import krtest  # noqa: E402
        if account_id == krtest.ACCOUNT:
            return self.moto.client("iam")
        c = self.moto.client("sts").assume_role(
            RoleArn="arn:aws:iam::%s:role/OrganizationAccountAccessRole" % account_id,
            RoleSessionName="fake-sso-setup")["Credentials"]
        return self.moto.client("iam", c["AccessKeyId"], c["SecretAccessKey"],
                                c["SessionToken"])

    def moto_iam(self, account_id):
        """Context manager: moto's auth off for the block, an IAM client of
        account_id (e.g. to create a role trusting fake.session_arn(...))."""
        import contextlib

        @contextlib.contextmanager
        def cm():
            with self.moto.admin():
                yield self._iam_for(account_id)
        return cm()

    def _ensure_broker(self):
        if self._broker is not None:
            return
        import krtest  # noqa: E402
        with self.moto.admin() as iam:
            name = "sso-broker-" + self._salt
            iam.create_user(UserName=name)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            iam.put_user_policy(UserName=name, PolicyName="broker", PolicyDocument=_BROKER_POLICY)
        self._broker = {"arn": "arn:aws:iam::%s:user/%s" % (krtest.ACCOUNT, name),
                        "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}

    def _create_moto_role(self, account_id, role_name, policy):
        self._ensure_broker()
        name = self.reserved_role_name(account_id, role_name)
        trust = json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": [self._broker["arn"]]},
                           "Action": ["sts:AssumeRole", "sts:TagSession",
                                      "sts:SetSourceIdentity"]}],
        })
        with self.moto.admin():
            iam = self._iam_for(account_id)
            r = iam.create_role(RoleName=name, Path="/aws-reserved/sso.amazonaws.com/",
                                AssumeRolePolicyDocument=trust)
            iam.put_role_policy(RoleName=name, PolicyName="permission-set",
                                PolicyDocument=policy or _ROLE_POLICY)
        return r["Role"]["Arn"]

    # ---- tokens and registrations -----------------------------------------

    def _secret(self, n):
        s = _rand(n)
        self._secrets.add(s)
        return s

    def issued_secrets(self):
        with self._lock:
            return set(self._secrets)

    def register_client(self, name="fake-sso-test", ttl=None, scopes=(), client_type="public"):
        now = time.time()
        with self._lock:
            cid = self._secret(16)
            sec = self._secret(96)
            ttl = self.registration_ttl if ttl is None else ttl
            self._clients[cid] = {"id": cid, "secret": sec, "name": name, "scopes": list(scopes),
                                  "issued": int(now), "expires": int(now + ttl),
                                  "type": client_type}
            return {"clientId": cid, "clientSecret": sec, "expiresAt": _utc(int(now + ttl))}

    def expire_registration(self, client_id):
        with self._lock:
            self._clients[client_id]["expires"] = int(time.time()) - 1

    def _new_tokens(self, user, client_id, ttl, refresh, login=None):
        """-> (access, refresh or None). Caller holds the lock."""
        now = time.time()
        login = login or _rand(8)
        at = "aoa" + self._secret(96)
        self._access[at] = {"user": user, "expires": now + ttl, "login": login,
                            "client_id": client_id, "revoked": False}
        rt = None
        if refresh:
            rt = "aor" + self._secret(96)
            self._refresh[rt] = {"user": user, "login": login, "client_id": client_id,
                                 "valid": True}
        return at, rt

    def issue_token(self, user, ttl=None, refresh=True, client=None,
                    scopes=(REFRESH_SCOPE,), start_url=None):
        """A login of user, as a finished device flow leaves it (see module
        docstring). client: a register_client() result (default: a new one)."""
        client = client or self.register_client("botocore-client-test", scopes=scopes)
        ttl = self.token_ttl if ttl is None else ttl
        with self._lock:
            if user not in self._users:
                raise KeyError("no such user: %s" % user)
            at, rt = self._new_tokens(user, client["clientId"], ttl, refresh)
            exp = self._access[at]["expires"]
            tok = {
                "startUrl": start_url or self._users[user]["start_url"],
                "region": self.region,
                "accessToken": at,
                "expiresAt": _utc(int(exp)),
                "clientId": client["clientId"],
                "clientSecret": client["clientSecret"],
                "registrationExpiresAt": client["expiresAt"],
            }
            if rt:
                tok["refreshToken"] = rt
            return tok

    def _tok(self, t):
        return t["accessToken"] if isinstance(t, dict) else t

    def expire_token(self, token):
        with self._lock:
            self._access[self._tok(token)]["expires"] = time.time() - 1

    def expire_refresh(self, refresh_token):
        with self._lock:
            self._refresh[refresh_token]["valid"] = False

    def revoke(self, token):
        """What Logout does: every token of that login stops working."""
        with self._lock:
            login = self._access[self._tok(token)]["login"]
            self._revoke_login(login)

    def _revoke_login(self, login):
        self._revoked_logins.add(login)
        for a in self._access.values():
            if a["login"] == login:
                a["revoked"] = True
        for r in self._refresh.values():
            if r["login"] == login:
                r["valid"] = False

    def token_valid(self, token):
        with self._lock:
            a = self._access.get(self._tok(token))
            return bool(a and not a["revoked"] and a["expires"] > time.time())

    def refresh_valid(self, refresh_token):
        with self._lock:
            r = self._refresh.get(refresh_token)
            return bool(r and r["valid"])

    def token_user(self, token):
        with self._lock:
            a = self._access.get(self._tok(token))
            return a["user"] if a else None

    # ---- device logins ----------------------------------------------------

    def _find_device(self, user_code):
        if user_code is not None:
            for d in self._devices:
                if d["user_code"] == user_code:
                    return d
            raise KeyError("no such user code: %s" % user_code)
        for d in reversed(self._devices):
            if d["state"] == "pending":
                return d
        raise KeyError("no pending device login")

    def _approve(self, d, user=None):
        user = user or self.approve_as
        if user is None:
            for u in self._users.values():
                if u["start_url"] == d["start_url"]:
                    user = u["name"]
                    break
        if user is None:
            raise KeyError("no user for start URL %s" % d["start_url"])
        d["state"], d["user"] = "approved", user

    def approve(self, user_code=None, user=None):
        with self._lock:
            d = self._find_device(user_code)
            self._approve(d, user)
            return d["user_code"]

    def deny(self, user_code=None):
        with self._lock:
            d = self._find_device(user_code)
            d["state"] = "denied"
            return d["user_code"]

    def expire_device(self, user_code=None):
        with self._lock:
            d = self._find_device(user_code)
            d["expires"] = time.time() - 1
            return d["user_code"]

    def devices(self):
        keep = ("user_code", "start_url", "client_name", "state", "interval", "too_fast",
                "user", "expires")
        with self._lock:
            return [dict({k: d[k] for k in keep}, polls=list(d["polls"]))
                    for d in self._devices]

    # ---- faults -----------------------------------------------------------

    def fail_next(self, n, kind, api=None, after=0):
        if kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % (FAULT_KINDS,))
        with self._lock:
            self._faults.append([int(n), kind, api, int(after)])

    def clear_faults(self):
        with self._lock:
            self._faults = []

    def delay(self, seconds, api=None):
        with self._lock:
            if seconds and seconds > 0:
                self._delays[api] = float(seconds)
            else:
                self._delays.pop(api, None)

    def hold(self, api=None):
        """Park requests of api (None: all) until release() (or 60 s)."""
        with self._lock:
            self._hold_api, self._holding = api, True
            self._gate.clear()

    def release(self):
        with self._lock:
            self._holding = False
            self._gate.set()

    def _wait_rules(self, api):
        with self._lock:
            total = sum(s for a, s in self._delays.items() if a is None or a == api)
            hold = self._holding and self._hold_api in (None, api)
        if hold:
            self._gate.wait(_HOLD_MAX_S)
        if total > 0:
            time.sleep(total)

    def _take_fault(self, api):
        with self._lock:
            for f in self._faults:
                if f[0] > 0 and f[2] in (None, api):
                    if f[3] > 0:
                        f[3] -= 1
                        continue
                    f[0] -= 1
                    kind = f[1]
                    self._faults = [x for x in self._faults if x[0] > 0]
                    return kind
        return None

    # ---- accounting -------------------------------------------------------

    def _arrived(self, api, server):
        rec = dict.fromkeys(_RECORD_KEYS)
        rec.update(api=api or "?", server=server, time=time.time())
        with self._cond:
            self._records.append(rec)
            self._cond.notify_all()
        return rec

    def counts(self):
        with self._lock:
            out = {"total": len(self._records)}
            for r in self._records:
                keys = [r["api"]]
                if r.get("grant_type"):
                    keys.append("%s:%s" % (r["api"], r["grant_type"]))
                for k in keys:
                    out[k] = out.get(k, 0) + 1
            return out

    def count(self, api=None):
        c = self.counts()
        return c["total"] if api is None else c.get(api, 0)

    def reset_counts(self):
        with self._lock:
            self._records = []

    def requests(self):
        with self._lock:
            return [dict(r) for r in self._records]

    def wait_for(self, n, api=None, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = sum(1 for r in self._records if api is None or r["api"] == api)
                if got >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))

    # ---- the APIs ---------------------------------------------------------

    _ROUTES = {
        ("portal", "GET", "/federation/credentials"): "GetRoleCredentials",
        ("portal", "GET", "/assignment/accounts"): "ListAccounts",
        ("portal", "GET", "/assignment/roles"): "ListAccountRoles",
        ("portal", "POST", "/logout"): "Logout",
        ("oidc", "POST", "/client/register"): "RegisterClient",
        ("oidc", "POST", "/device_authorization"): "StartDeviceAuthorization",
        ("oidc", "POST", "/token"): "CreateToken",
        ("oidc", "GET", "/device"): "Verify",
        ("oidc", "GET", "/device/"): "Verify",
    }

    def _route(self, server, method, path):
        return self._ROUTES.get((server, method, path))

    def _dispatch(self, api, server, query, headers, body, rec):
        fault = self._take_fault(api)
        if fault:
            rec["fault"] = fault
            if fault == "drop":
                raise _DropConnection()
            if fault == "503":
                return 503, b"Service Unavailable\n", "text/plain"
        if api == "Verify":
            return self._verify(query, rec, fault)
        if server == "oidc":
            try:
                req = json.loads(body.decode("utf-8")) if body else {}
            except ValueError:
                req = None
            if not isinstance(req, dict):
                raise _oidc_err("invalid_request", "the body is not a JSON object")
            return getattr(self, "_api_" + api)(req, rec, fault)
        return getattr(self, "_api_" + api)(query, headers.get("x-amz-sso_bearer_token"), rec,
                                            fault)

    @staticmethod
    def _raise_fault(fault, server):
        if fault:
            e = _fault_err(fault, server)
            if e is not None:
                raise e

    # portal ------------------------------------------------------------------

    def _session_user(self, token, rec):
        """The user of a valid access token; else 401. Caller holds the lock."""
        a = self._access.get(token) if token else None
        if a:
            rec["user"] = a["user"]
        if not a or a["revoked"] or a["expires"] <= time.time():
            raise _portal_err("unauthorized")
        return a["user"]

    def _api_GetRoleCredentials(self, q, token, rec, fault):
        rec["account_id"], rec["role_name"] = q.get("account_id"), q.get("role_name")
        self._raise_fault(fault, "portal")
        with self._lock:
            user = self._session_user(token, rec)
            if not q.get("account_id") or not q.get("role_name"):
                raise _portal_err("invalid_request", "account_id and role_name are required")
            role = self._roles.get((q["account_id"], q["role_name"]))
            if role is None or user not in role["users"]:
                raise _portal_err("forbidden")
        creds = self._mint(role, user)
        return 200, {"roleCredentials": creds}, "application/json"

    def _mint(self, role, user):
        if role["arn"] is None:
            with self._lock:
                sec = self._secret(30)
                tok = self._secret(150)
            return {"accessKeyId": _access_key(), "secretAccessKey": sec, "sessionToken": tok,
                    "expiration": int((time.time() + self.role_ttl) * 1000)}
        import krtest  # noqa: E402
        if role["caller"]:
            key, secret = role["caller"]
        else:
            self._ensure_broker()
            key, secret = self._broker["key"], self._broker["secret"]
        with self._lock:
            sts = self._sts_clients.get(key)
            if sts is None:  # botocore clients are thread-safe once made
                sts = self._sts_clients[key] = krtest.boto_client("sts", self.moto.url, key,
                                                                  secret)
        try:
            c = sts.assume_role(RoleArn=role["arn"], RoleSessionName=user,
                                DurationSeconds=int(self.role_ttl))["Credentials"]
        except Exception as e:  # noqa: BLE001 - moto's refusal becomes a 500
            raise _portal_err("server_error", "moto refused AssumeRole: %s"
                              % e.__class__.__name__)
        with self._lock:
            self._secrets.update((c["SecretAccessKey"], c["SessionToken"]))
        return {"accessKeyId": c["AccessKeyId"], "secretAccessKey": c["SecretAccessKey"],
                "sessionToken": c["SessionToken"],
                "expiration": int(c["Expiration"].timestamp() * 1000)}

    def _page(self, kind, user, account_id, items, q, rec):
        """One page of items (list) for a List* call. Caller holds the lock."""
        offset = 0
        nt = q.get("next_token")
        rec["next_token"] = bool(nt)
        if nt:
            p = self._pages.get(nt)
            if p is None or p[:3] != (kind, user, account_id):
                raise _portal_err("invalid_request", "Invalid next token")
            offset = p[3]
        size = self.page_size
        if q.get("max_result"):
            try:
                mr = int(q["max_result"])
            except ValueError:
                raise _portal_err("invalid_request", "max_result must be a number")
            rec["max_result"] = mr
            if not 1 <= mr <= 100:
                raise _portal_err("invalid_request", "max_result must be 1 to 100")
            size = min(size, mr)
        page = items[offset:offset + size]
        out_nt = None
        if offset + size < len(items):
            out_nt = _rand(24)
            self._pages[out_nt] = (kind, user, account_id, offset + size)
        return page, out_nt

    def _api_ListAccounts(self, q, token, rec, fault):
        self._raise_fault(fault, "portal")
        with self._lock:
            user = self._session_user(token, rec)
            ids = sorted({r["account_id"] for r in self._roles.values() if user in r["users"]})
            items = [dict(self._accounts[i]) for i in ids]
            page, nt = self._page("accounts", user, None, items, q, rec)
        out = {"accountList": page}
        if nt:
            out["nextToken"] = nt
        return 200, out, "application/json"

    def _api_ListAccountRoles(self, q, token, rec, fault):
        rec["account_id"] = q.get("account_id")
        self._raise_fault(fault, "portal")
        with self._lock:
            user = self._session_user(token, rec)
            acct = q.get("account_id")
            if not acct:
                raise _portal_err("invalid_request", "account_id is required")
            items = [{"roleName": r["role_name"], "accountId": acct}
                     for (a, _), r in sorted(self._roles.items())
                     if a == acct and user in r["users"]]
            page, nt = self._page("roles", user, acct, items, q, rec)
        out = {"roleList": page}
        if nt:
            out["nextToken"] = nt
        return 200, out, "application/json"

    def _api_Logout(self, q, token, rec, fault):
        self._raise_fault(fault, "portal")
        with self._lock:
            self._session_user(token, rec)
            self._revoke_login(self._access[token]["login"])
        return 200, b"", "application/json"

    # OIDC --------------------------------------------------------------------

    def _client(self, req, rec):
        """The registration named by clientId/clientSecret; else
        invalid_client. Caller holds the lock."""
        c = self._clients.get(req.get("clientId") or "")
        if c:
            rec["client_name"] = c["name"]
        if c is None or req.get("clientSecret") != c["secret"]:
            raise _oidc_err("invalid_client", "Invalid client credentials")
        if c["expires"] <= time.time():
            raise _oidc_err("invalid_client", "Client registration has expired")
        return c

    def _api_RegisterClient(self, req, rec, fault):
        rec["client_name"] = req.get("clientName")
        rec["scopes"] = req.get("scopes")
        self._raise_fault(fault, "oidc")
        if not req.get("clientName") or not req.get("clientType"):
            raise _oidc_err("invalid_request", "clientName and clientType are required")
        if req["clientType"] != "public":
            raise _oidc_err("invalid_client_metadata", "clientType must be public")
        scopes = req.get("scopes") or []
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise _oidc_err("invalid_request", "scopes must be a list of strings")
        r = self.register_client(req["clientName"], scopes=scopes)
        with self._lock:
            c = self._clients[r["clientId"]]
            return 200, {"clientId": c["id"], "clientSecret": c["secret"],
                         "clientIdIssuedAt": c["issued"],
                         "clientSecretExpiresAt": c["expires"]}, "application/json"

    def _api_StartDeviceAuthorization(self, req, rec, fault):
        rec["start_url"] = req.get("startUrl")
        self._raise_fault(fault, "oidc")
        with self._lock:
            c = self._client(req, rec)
            su = req.get("startUrl")
            if not su:
                raise _oidc_err("invalid_request", "startUrl is required")
            if not any(u["start_url"] == su for u in self._users.values()):
                raise _oidc_err("invalid_request", "Unknown start URL")
            now = time.time()
            code = self._secret(48)
            uc = _user_code()
            self._devices.append({
                "device_code": code, "user_code": uc, "client_id": c["id"],
                "client_name": c["name"], "start_url": su, "created": now,
                "expires": now + self.device_ttl, "interval": self.device_interval,
                "state": "pending", "polls": [], "too_fast": 0, "user": None,
            })
            rec["user_code"] = uc
            vu = self.oidc_url + "/device"
        return 200, {"deviceCode": code, "userCode": uc, "verificationUri": vu,
                     "verificationUriComplete": vu + "?user_code=" + uc,
                     "expiresIn": self.device_ttl, "interval": self.device_interval}, \
            "application/json"

    def _verify(self, q, rec, fault):
        uc = q.get("user_code")
        rec["user_code"] = uc
        if fault in ("429", "500", "401"):
            return int(fault), b"<p>error</p>\n", "text/html"
        with self._lock:
            d = next((x for x in self._devices if x["user_code"] == uc), None)
            if d is None:
                return 404, b"<p>no such code</p>\n", "text/html"
            if d["expires"] <= time.time():
                return 400, b"<p>this code has expired</p>\n", "text/html"
            if d["state"] == "pending":
                if self.verification_action == "approve":
                    self._approve(d)
                elif self.verification_action == "deny":
                    d["state"] = "denied"
            rec["user"] = d["user"]
            return 200, ("<p>%s: %s</p>\n" % (uc, d["state"])).encode(), "text/html"

    def _issue(self, user, c, login=None, refresh=True):
        """-> CreateToken's answer. Caller holds the lock."""
        refresh = refresh and (self.refresh_scope is None or self.refresh_scope in c["scopes"])
        at, rt = self._new_tokens(user, c["id"], self.token_ttl, refresh, login)
        out = {"accessToken": at, "tokenType": "Bearer", "expiresIn": int(self.token_ttl)}
        if rt:
            out["refreshToken"] = rt
        return out

    def _api_CreateToken(self, req, rec, fault):
        grant = req.get("grantType")
        rec["grant_type"] = {DEVICE_GRANT: "device_code", REFRESH_GRANT: "refresh_token"}.get(
            grant, "other")
        with self._lock:
            c = self._clients.get(req.get("clientId") or "")
            if c:
                rec["client_name"] = c["name"]
            d = None
            if grant == DEVICE_GRANT:
                d = next((x for x in self._devices
                          if x["device_code"] == req.get("deviceCode")), None)
                if d is not None:
                    self._poll(d, rec)
                    if fault == "slow_down":
                        d["interval"] += _SLOW_DOWN_S
        self._raise_fault(fault, "oidc")
        with self._lock:
            c = self._client(req, rec)
            if grant == DEVICE_GRANT:
                if d is None or d["client_id"] != c["id"]:
                    raise _oidc_err("invalid_grant", "Invalid device code")
                if d.get("slowed"):
                    d["slowed"] = False
                    raise _oidc_err("slow_down")
                if d["state"] == "consumed":
                    raise _oidc_err("invalid_grant", "Device code already used")
                if d["expires"] <= time.time():
                    d["state"] = "expired"
                    raise _oidc_err("expired_token", "Device code has expired")
                if d["state"] == "denied":
                    raise _oidc_err("access_denied")
                if d["state"] != "approved":
                    raise _oidc_err("authorization_pending")
                d["state"] = "consumed"
                rec["user"] = d["user"]
                return 200, self._issue(d["user"], c), "application/json"
            if grant == REFRESH_GRANT:
                r = self._refresh.get(req.get("refreshToken") or "")
                if r:
                    rec["user"] = r["user"]
                if r is None or not r["valid"] or r["client_id"] != c["id"]:
                    raise _oidc_err("invalid_grant", "Invalid refresh token")
                # Rotation: a new refresh token, the old one stops working.
                # Without it the answer has no refreshToken (the old stays).
                if self.rotate_refresh:
                    r["valid"] = False
                return 200, self._issue(r["user"], c, login=r["login"],
                                        refresh=self.rotate_refresh), "application/json"
            if not grant:
                raise _oidc_err("invalid_request", "grantType is required")
            raise _oidc_err("unsupported_grant_type")

    def _poll(self, d, rec):
        """Account one CreateToken poll of device d. Caller holds the lock."""
        now = time.time()
        rec["user_code"] = d["user_code"]
        if d["polls"] and now - d["polls"][-1] < d["interval"] - _POLL_TOLERANCE_S:
            d["too_fast"] += 1
            if self.enforce_interval and d["state"] == "pending":
                d["interval"] += _SLOW_DOWN_S
                d["slowed"] = True
        d["polls"].append(now)


# ---------------------------------------------------------------------------
# The AWS CLI's token cache


def _cli_time(t, suffix="Z"):
    if isinstance(t, (int, float)):
        t = _utc(t)
    if isinstance(t, str):
        return t
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + suffix


def cli_token_cache_key(start_url=None, session_name=None):
    """botocore SSOTokenLoader._generate_cache_key: sha1 of the session name
    (sso-session profiles) or of the start URL (legacy profiles)."""
    return hashlib.sha1((session_name if session_name is not None else start_url)
                        .encode("utf-8")).hexdigest()


def _cache_dir(home, owner):
    d = home
    for part in (".aws", "sso", "cache"):
        d = os.path.join(d, part)
        if not os.path.isdir(d):
            os.mkdir(d, 0o700)
            if owner:
                os.chown(d, owner[0], owner[1])
    return d


def _write_cache_file(d, key, text, owner):
    # As botocore's JSONFileCache: a temp file in the dir (0600), replaced.
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if owner:
        os.chown(tmp, owner[0], owner[1])
    path = os.path.join(d, key + ".json")
    os.replace(tmp, path)
    return path


def cli_token_json(tok, start_url=None, region=None, legacy=False, time_suffix="Z"):
    """The text the AWS CLI v2 writes for a token: json.dumps of the dict
    SSOTokenFetcher builds, datetimes as %Y-%m-%dT%H:%M:%SZ. legacy=True:
    the older four-field form (startUrl, region, accessToken, expiresAt);
    time_suffix="UTC" the older botocore's "...T12:00:00UTC"."""
    out = {"startUrl": start_url or tok["startUrl"], "region": region or tok["region"],
           "accessToken": tok["accessToken"],
           "expiresAt": _cli_time(tok["expiresAt"], time_suffix)}
    if not legacy:
        out["clientId"] = tok["clientId"]
        out["clientSecret"] = tok["clientSecret"]
        out["registrationExpiresAt"] = _cli_time(tok["registrationExpiresAt"], time_suffix)
        if tok.get("refreshToken"):
            out["refreshToken"] = tok["refreshToken"]
    return json.dumps(out)


def write_cli_token_cache(home, tok, session_name=None, start_url=None, region=None,
                          legacy=False, time_suffix="Z", owner=None):
    """Play "someone ran aws sso login": HOME/.aws/sso/cache/<key>.json, key
    per botocore (sha1 of session_name, else of the start URL). tok: from
    FakeSSO.issue_token() (or any dict with those fields). owner=(uid, gid)
    chowns what it creates. -> the file's path."""
    su = start_url or tok["startUrl"]
    key = cli_token_cache_key(su, session_name)
    return _write_cache_file(_cache_dir(home, owner), key,
                             cli_token_json(tok, su, region, legacy, time_suffix), owner)


def read_cli_token_cache(home, session_name=None, start_url=None):
    """-> the dict in the CLI's cache file, or None."""
    p = os.path.join(home, ".aws", "sso", "cache",
                     cli_token_cache_key(start_url, session_name) + ".json")
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_cli_registration_cache(home, registration, start_url, region, session_name=None,
                                 scopes=None, owner=None):
    """The CLI v2's client registration file (SSOTokenFetcher._registration):
    key sha1(json.dumps({tool, startUrl, region, scopes, session_name},
    sort_keys=True)); body {clientId, clientSecret, expiresAt[, scopes]}."""
    args = {"tool": "botocore", "startUrl": start_url, "region": region, "scopes": scopes,
            "session_name": session_name}
    key = hashlib.sha1(json.dumps(args, sort_keys=True).encode("utf-8")).hexdigest()
    body = {"clientId": registration["clientId"], "clientSecret": registration["clientSecret"],
            "expiresAt": _cli_time(registration["expiresAt"])}
    if scopes:
        body["scopes"] = scopes
    return _write_cache_file(_cache_dir(home, owner), key, json.dumps(body), owner)


__all__ = ["FakeSSO", "make_cert", "write_cli_token_cache", "read_cli_token_cache",
           "write_cli_registration_cache", "cli_token_cache_key", "cli_token_json",
           "DEFAULT_START_URL", "REFRESH_SCOPE", "FAULT_KINDS", "DEVICE_GRANT", "REFRESH_GRANT"]
