"""Proves tests/lib/fake_sso.py (the IAM Identity Center fake) with botocore
itself: botocore's SSO credential provider (sso-session and legacy profiles)
and SSO token provider (refresh) against the fake, the role credentials
accepted by moto's STS, a role chained on top, the device flow, pagination,
Logout/401/403/429, the AWS CLI cache file, HTTPS, and AWS CLI v2."""

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
import fake_sso  # noqa: E402
from fake_sso import FakeSSO  # noqa: E402
from krtest import Skip  # noqa: E402

from botocore import UNSIGNED  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

A1, A2, A3 = "111111111111", "222222222222", "333333333333"
START2 = "https://d-fake000002.awsapps.com/start"
CLI_FIELDS = ["startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret",
              "registrationExpiresAt", "refreshToken"]
CLI_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# botocore in a child process: its SSO cache dir is fixed at import from HOME.
# Prints one JSON line per profile; never a key or token.
_PROBE = r"""
import json, sys, boto3
out = []
for p in sys.argv[1:]:
    r = {"profile": p}
    try:
        s = boto3.Session(profile_name=p)
        c = s.get_credentials()
        r["method"] = c.method
        c.get_frozen_credentials()
        exp = getattr(c, "_expiry_time", None)
        r["expiry"] = exp.timestamp() if exp else None
        r["arn"] = s.client("sts").get_caller_identity()["Arn"]
    except Exception as e:
        r["error"] = e.__class__.__name__
    out.append(r)
print(json.dumps(out))
"""

# A $BROWSER: fetches the URL it is given (its last argument), no proxies.
_BROWSER = r"""
import sys, urllib.request
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with o.open(sys.argv[-1], timeout=10) as r:
    r.read()
"""


def err_code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def sso_clients(fake, verify=None):
    import boto3
    cfg = Config(signature_version=UNSIGNED, region_name="us-east-1",
                 retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=30)
    s = boto3.session.Session()
    return (s.client("sso", endpoint_url=fake.portal_url, config=cfg, verify=verify),
            s.client("sso-oidc", endpoint_url=fake.oidc_url, config=cfg, verify=verify))


def probe(run, home, fake, moto, profiles):
    env = krtest.aws_env(home, endpoint_url=moto.url, extra=dict(fake.env(),
                         AWS_EC2_METADATA_DISABLED="true"))
    p = subprocess.run([sys.executable, "-c", _PROBE] + list(profiles), capture_output=True,
                       text=True, timeout=120, env=krtest.clean_env(env), cwd="/")
    if p.returncode != 0:
        raise RuntimeError("probe failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    return {r["profile"]: r for r in json.loads(p.stdout.strip().splitlines()[-1])}


def setup(tap, run, state):
    moto = run.moto()
    fake = run.adopt(FakeSSO(moto=moto, page_size=2))
    fake.add_user("alice")
    fake.add_user("bob", start_url=START2)
    fake.add_account(A1, "dev", "dev@example.com")
    fake.add_account(A2, "staging")
    fake.add_account(A3, "sandbox")
    fake.add_role(A1, "Developer", users=["alice"])
    fake.add_role(A1, "ReadOnly", users=["alice"])
    fake.add_role(A1, "Admin", users=["alice"], moto=False)
    fake.add_role(A2, "Developer", users=["alice"])
    fake.add_role(A3, "Viewer", users=["alice", "bob"], moto=False)
    # A role chained on top of alice's Developer session (moto matches a
    # trust policy against the session ARN, not the role's).
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": [fake.session_arn(A1, "Developer", "alice")]},
        "Action": "sts:AssumeRole"}]})
    with fake.moto_iam(A1) as iam:
        after = iam.create_role(RoleName="after-sso", AssumeRolePolicyDocument=trust)
    moto.enable_auth()
    state.update(moto=moto, fake=fake, after_arn=after["Role"]["Arn"])
    tap.ok(fake.role_arn(A1, "Developer").startswith(
        "arn:aws:iam::%s:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_" % A1),
        "a mapped role is a moto role in its account", fake.role_arn(A1, "Developer"))

    home = run.home()
    krtest.write_aws_config(home, """
        [sso-session corp]
        sso_start_url = {su}
        sso_region = us-east-1
        sso_registration_scopes = sso:account:access

        [sso-session corp2]
        sso_start_url = {su}
        sso_region = us-east-1

        [profile dev]
        sso_session = corp
        sso_account_id = {a1}
        sso_role_name = Developer
        region = us-east-1

        [profile legacy]
        sso_start_url = {su}
        sso_region = us-east-1
        sso_account_id = {a1}
        sso_role_name = ReadOnly
        region = us-east-1

        [profile chained]
        role_arn = {after}
        source_profile = dev
        role_session_name = hop
        region = us-east-1

        [profile staging]
        sso_session = corp2
        sso_account_id = {a2}
        sso_role_name = Developer
        region = us-east-1

        [profile bob-legacy]
        sso_start_url = {su2}
        sso_region = us-east-1
        sso_account_id = {a3}
        sso_role_name = Viewer
        region = us-east-1
        """.format(su=fake.start_url, su2=START2, a1=A1, a2=A2, a3=A3, after=state["after_arn"]))
    state["home"] = home


def test_cli_cache_writer(tap, run, state):
    fake, home = state["fake"], state["home"]
    tok = fake.issue_token("alice")
    path = fake_sso.write_cli_token_cache(home, tok, session_name="corp")
    state["tok_corp"] = tok
    import hashlib
    tap.is_(os.path.basename(path), hashlib.sha1(b"corp").hexdigest() + ".json",
            "sso-session cache file is named sha1(session name)")
    with open(path) as f:
        d = json.load(f)
    tap.is_(list(d), CLI_FIELDS, "the CLI's fields, in the CLI's order")
    tap.ok(CLI_TIME.match(d["expiresAt"]) and CLI_TIME.match(d["registrationExpiresAt"]),
           "times as the CLI writes them (%Y-%m-%dT%H:%M:%SZ)")
    modes = [stat.S_IMODE(os.stat(p).st_mode) for p in (os.path.dirname(path), path)]
    tap.is_(modes, [0o700, 0o600], "cache dir 0700, file 0600")
    p2 = fake_sso.write_cli_token_cache(home, fake.issue_token("alice"))
    tap.is_(os.path.basename(p2), hashlib.sha1(fake.start_url.encode()).hexdigest() + ".json",
            "legacy cache file is named sha1(start URL)")
    legacy = json.loads(fake_sso.cli_token_json(tok, legacy=True, time_suffix="UTC"))
    tap.ok(list(legacy) == CLI_FIELDS[:4] and legacy["expiresAt"].endswith("UTC"),
           "legacy=True/time_suffix='UTC': the older four-field form", list(legacy))


def test_botocore_provider(tap, run, state):
    fake, moto, home = state["fake"], state["moto"], state["home"]
    fake.reset_counts()
    t0 = time.time()
    got = probe(run, home, fake, moto, ["dev", "legacy", "chained"])
    dev, legacy, chained = got["dev"], got["legacy"], got["chained"]
    tap.is_(dev.get("arn"), fake.session_arn(A1, "Developer", "alice"),
            "sso-session profile: botocore's SSO provider gets credentials moto accepts", dev)
    tap.is_(dev.get("method"), "sso", "botocore used its SSO provider", dev)
    exp = dev.get("expiry") or 0
    tap.ok(abs(exp - (t0 + fake.role_ttl)) < 120,
           "expiration (epoch ms on the wire) is what botocore reads",
           "expiry %r, now %r" % (exp, t0))
    tap.is_(legacy.get("arn"), fake.session_arn(A1, "ReadOnly", "alice"),
            "legacy profile (sso_start_url in the profile) works too", legacy)
    tap.is_(chained.get("arn"), "arn:aws:sts::%s:assumed-role/after-sso/hop" % A1,
            "a role chained on top of the SSO profile (source_profile) works", chained)
    tap.is_(chained.get("method"), "assume-role", "chained profile is assume-role", chained)
    c = fake.counts()
    tap.is_((c.get("GetRoleCredentials"), c.get("CreateToken", 0), c.get("RegisterClient", 0)),
            (3, 0, 0), "one GetRoleCredentials per provider, no token call for a valid token",
            c)
    roles = sorted((r["account_id"], r["role_name"], r["user"], r["status"])
                   for r in fake.requests() if r["api"] == "GetRoleCredentials")
    tap.is_(roles, [(A1, "Developer", "alice", 200)] * 2 + [(A1, "ReadOnly", "alice", 200)],
            "the request log names account, role and user")


def test_botocore_refresh(tap, run, state):
    fake, moto, home = state["fake"], state["moto"], state["home"]
    old = fake.issue_token("alice", ttl=-60)
    path = fake_sso.write_cli_token_cache(home, old, session_name="corp2")
    fake.reset_counts()
    got = probe(run, home, fake, moto, ["staging"])["staging"]
    tap.is_(got.get("arn"), fake.session_arn(A2, "Developer", "alice"),
            "an expired access token: botocore refreshes it and gets credentials", got)
    c = fake.counts()
    tap.is_((c.get("CreateToken:refresh_token"), c.get("CreateToken"),
             c.get("GetRoleCredentials")), (1, 1, 1), "exactly one CreateToken (refresh_token)",
            c)
    apis = [r["api"] for r in fake.requests()]
    tap.is_(apis, ["CreateToken", "GetRoleCredentials"], "refresh comes first")
    with open(path) as f:
        new = json.load(f)
    tap.is_(list(new), CLI_FIELDS, "botocore rewrote the cache file with the same fields, "
            "same order, as write_cli_token_cache", list(new))
    tap.ok(CLI_TIME.match(new["expiresAt"]) is not None, "and the same time format",
           new["expiresAt"])
    tap.ok(new["accessToken"] != old["accessToken"] and fake.token_valid(new["accessToken"])
           and not fake.token_valid(old["accessToken"]), "the new access token is valid")
    tap.ok(fake.refresh_valid(new["refreshToken"]) and not fake.refresh_valid(
        old["refreshToken"]), "the refresh token was rotated (the old one is dead)")
    tap.is_(new["registrationExpiresAt"],
            json.loads(fake_sso.cli_token_json(old))["registrationExpiresAt"],
            "the registration is carried over unchanged")

    fake.reset_counts()
    got = probe(run, home, fake, moto, ["staging"])["staging"]
    tap.is_((got.get("arn") is not None, fake.count("CreateToken")), (True, 0),
            "a second process uses the refreshed token from the file: no CreateToken", got)

    # Less than 15 minutes left: botocore refreshes before expiry.
    fake_sso.write_cli_token_cache(home, fake.issue_token("alice", ttl=600),
                                   session_name="corp2")
    fake.reset_counts()
    got = probe(run, home, fake, moto, ["staging"])["staging"]
    tap.is_((got.get("arn") is not None, fake.count("CreateToken:refresh_token")), (True, 1),
            "10 minutes left: botocore refreshes (its window is 15 minutes)", got)

    # Legacy profile with an expired token: no refresh, no call at all.
    fake_sso.write_cli_token_cache(home, fake.issue_token("bob", ttl=-60))
    fake.reset_counts()
    got = probe(run, home, fake, moto, ["bob-legacy"])["bob-legacy"]
    tap.is_((got.get("error"), fake.count()), ("UnauthorizedSSOTokenError", 0),
            "legacy profile, expired token: botocore fails without any request", got)


def _device_login(oidc, start_url, browser, events, scopes=(fake_sso.REFRESH_SCOPE,)):
    """A device flow as a login tool runs it: register, start, one poll,
    open the browser, then poll every `interval` (slow_down adds 5 s)."""
    reg = oidc.register_client(clientName="fake-sso-test", clientType="public",
                               scopes=list(scopes))
    da = oidc.start_device_authorization(clientId=reg["clientId"],
                                         clientSecret=reg["clientSecret"], startUrl=start_url)
    interval = da.get("interval", 5)
    deadline = time.monotonic() + da["expiresIn"]
    opened = False
    while time.monotonic() < deadline:
        try:
            tok = oidc.create_token(grantType=fake_sso.DEVICE_GRANT, clientId=reg["clientId"],
                                    clientSecret=reg["clientSecret"],
                                    deviceCode=da["deviceCode"])
            return reg, da, tok
        except oidc.exceptions.SlowDownException:
            interval += 5
            events.append("slow_down")
        except oidc.exceptions.AuthorizationPendingException:
            events.append("authorization_pending")
        if not opened and browser:
            browser(da["verificationUriComplete"])
            opened = True
        time.sleep(interval)
    raise RuntimeError("device login did not finish")


def test_device_flow(tap, run, state):
    fake = state["fake"]
    sso, oidc = sso_clients(fake)
    bpath = run.path("browser.py")
    with open(bpath, "w") as f:
        f.write(_BROWSER)

    def browser(url):
        subprocess.run([sys.executable, bpath, url], check=True, timeout=30,
                       env=krtest.clean_env(), capture_output=True)

    fake.reset_counts()
    fake.fail_next(1, "slow_down", api="CreateToken", after=1)
    events = []
    t0 = time.monotonic()
    reg, da, tok = _device_login(oidc, fake.start_url, browser, events)
    tap.diag("device login took %.1f s" % (time.monotonic() - t0))
    tap.is_(events, ["authorization_pending", "slow_down"],
            "authorization_pending until the browser fetched the URL, then slow_down")
    dev = [d for d in fake.devices() if d["user_code"] == da["userCode"]][0]
    tap.is_((dev["state"], dev["user"], dev["interval"], dev["too_fast"], len(dev["polls"])),
            ("consumed", "alice", 6, 0, 3),
            "approved by the fetch, interval 1+5 after slow_down, no poll too early", dev)
    tap.ok(dev["polls"][2] - dev["polls"][1] >= 6 - 0.25,
           "the poll after slow_down waited the longer interval", dev["polls"])
    c = fake.counts()
    tap.is_((c.get("RegisterClient"), c.get("StartDeviceAuthorization"), c.get("Verify"),
             c.get("CreateToken:device_code")), (1, 1, 1, 3), "one flow: 1/1/1 and 3 polls", c)
    tap.ok("refreshToken" in tok and fake.token_user(tok["accessToken"]) == "alice",
           "CreateToken gave alice's access token and a refresh token")
    r = sso.get_role_credentials(roleName="Developer", accountId=A1,
                                 accessToken=tok["accessToken"])
    tap.ok(r["roleCredentials"]["expiration"] > time.time() * 1000,
           "the device-flow token gets role credentials")
    tap.is_(err_code(lambda: oidc.create_token(
        grantType=fake_sso.DEVICE_GRANT, clientId=reg["clientId"],
        clientSecret=reg["clientSecret"], deviceCode=da["deviceCode"])),
        ("InvalidGrantException", 400), "a device code is exchanged once")

    ref = oidc.create_token(grantType=fake_sso.REFRESH_GRANT, clientId=reg["clientId"],
                            clientSecret=reg["clientSecret"], refreshToken=tok["refreshToken"])
    tap.ok(fake.token_valid(ref["accessToken"]) and ref["refreshToken"] != tok["refreshToken"],
           "refresh_token grant: a new access token and refresh token")
    tap.is_(err_code(lambda: oidc.create_token(
        grantType=fake_sso.REFRESH_GRANT, clientId=reg["clientId"],
        clientSecret=reg["clientSecret"], refreshToken=tok["refreshToken"])),
        ("InvalidGrantException", 400), "a used refresh token is refused (rotation)")

    def start():
        rg = oidc.register_client(clientName="t2", clientType="public")
        d = oidc.start_device_authorization(clientId=rg["clientId"],
                                            clientSecret=rg["clientSecret"],
                                            startUrl=fake.start_url)
        poll = (lambda: oidc.create_token(grantType=fake_sso.DEVICE_GRANT,
                                          clientId=rg["clientId"],
                                          clientSecret=rg["clientSecret"],
                                          deviceCode=d["deviceCode"]))
        return rg, d, poll

    fake.verification_action = "deny"
    _, d, poll = start()
    browser(d["verificationUriComplete"])
    tap.is_(err_code(poll), ("AccessDeniedException", 400), "denied in the browser: access_denied")
    fake.verification_action = "approve"

    _, d, poll = start()
    fake.expire_device(d["userCode"])
    tap.is_(err_code(poll), ("ExpiredTokenException", 400), "past expiresIn: expired_token")
    st, _ = krtest.http_request(d["verificationUriComplete"])
    tap.is_(st, 400, "the verification page refuses an expired code")

    _, d, poll = start()
    fake.fail_next(1, "access_denied", api="CreateToken")
    tap.is_(err_code(poll), ("AccessDeniedException", 400), "access_denied on demand")
    err_code(poll)
    dv = [x for x in fake.devices() if x["user_code"] == d["userCode"]][0]
    tap.is_(dv["too_fast"], 1, "a poll sooner than the interval is counted (too_fast)", dv)
    fake.approve(d["userCode"])
    tok2 = poll()
    tap.ok("refreshToken" in tok2, "approve() without a browser completes the flow")

    fake.refresh_scope = fake_sso.REFRESH_SCOPE
    try:
        _, d, poll = start()  # registered without scopes
        fake.approve(d["userCode"])
        tap.ok("refreshToken" not in poll(),
               "refresh_scope set: no refresh token for a registration without that scope")
    finally:
        fake.refresh_scope = None


def test_pagination(tap, run, state):
    fake = state["fake"]
    sso, _ = sso_clients(fake)
    tok = fake.issue_token("alice")["accessToken"]
    fake.reset_counts()
    pages = list(sso.get_paginator("list_accounts").paginate(accessToken=tok))
    tap.is_([[a["accountId"] for a in p["accountList"]] for p in pages], [[A1, A2], [A3]],
            "ListAccounts: page size 2, botocore's paginator follows nextToken")
    tap.is_(pages[0]["accountList"][0], {"accountId": A1, "accountName": "dev",
                                         "emailAddress": "dev@example.com"},
            "AccountInfo fields")
    tap.is_(fake.count("ListAccounts"), 2, "two requests for two pages")
    pages = list(sso.get_paginator("list_accounts").paginate(
        accessToken=tok, PaginationConfig={"PageSize": 1}))
    tap.is_(len(pages), 3, "max_result=1: three pages")
    pages = list(sso.get_paginator("list_account_roles").paginate(accessToken=tok, accountId=A1))
    tap.is_([[r["roleName"] for r in p["roleList"]] for p in pages],
            [["Admin", "Developer"], ["ReadOnly"]], "ListAccountRoles pages too")
    tap.is_(err_code(lambda: sso.list_accounts(accessToken=tok, nextToken="bogus")),
            ("InvalidRequestException", 400), "an unknown nextToken is refused")
    bob = fake.issue_token("bob")["accessToken"]
    tap.is_([a["accountId"] for a in sso.list_accounts(accessToken=bob)["accountList"]], [A3],
            "a user sees only the accounts assigned to them")


def test_errors(tap, run, state):
    fake = state["fake"]
    sso, oidc = sso_clients(fake)
    tok = fake.issue_token("alice")

    def grc(t=tok["accessToken"], acct=A1, role="Developer"):
        return sso.get_role_credentials(roleName=role, accountId=acct, accessToken=t)

    tap.is_(err_code(grc), None, "GetRoleCredentials with a valid token")
    fake.fail_next(1, "429", api="GetRoleCredentials")
    tap.is_(err_code(grc), ("TooManyRequestsException", 429), "429 on demand")
    tap.is_(err_code(grc), None, "and the next call works")
    tap.is_(err_code(lambda: grc(role="Admin", acct=A2)), ("ForbiddenException", 403),
            "a role not assigned: 403")
    tap.is_(err_code(lambda: grc(t="not-a-token")), ("UnauthorizedException", 401),
            "unknown token: 401")
    sso.logout(accessToken=tok["accessToken"])
    tap.is_(err_code(grc), ("UnauthorizedException", 401), "after Logout: 401")
    tap.is_(err_code(lambda: sso.logout(accessToken=tok["accessToken"])),
            ("UnauthorizedException", 401), "Logout again: 401")
    tap.is_(err_code(lambda: oidc.create_token(
        grantType=fake_sso.REFRESH_GRANT, clientId=tok["clientId"],
        clientSecret=tok["clientSecret"], refreshToken=tok["refreshToken"])),
        ("InvalidGrantException", 400), "Logout also ends the login's refresh token")
    t2 = fake.issue_token("alice")
    fake.expire_token(t2)
    tap.is_(err_code(lambda: grc(t=t2["accessToken"])), ("UnauthorizedException", 401),
            "expired token: 401")
    fake.expire_registration(t2["clientId"])
    tap.is_(err_code(lambda: oidc.create_token(
        grantType=fake_sso.REFRESH_GRANT, clientId=t2["clientId"],
        clientSecret=t2["clientSecret"], refreshToken=t2["refreshToken"])),
        ("InvalidClientException", 401), "expired registration: invalid_client")
    t3 = fake.issue_token("alice")
    fake.reset_counts()
    fake.fail_next(1, "drop", api="ListAccounts")
    try:
        sso.list_accounts(accessToken=t3["accessToken"])
        dropped = False
    except Exception:  # noqa: BLE001 - botocore's connection error class varies
        dropped = True
    tap.ok(dropped, "drop: the connection closes without an answer")
    fake.hold("GetRoleCredentials")
    done = []
    th = threading.Thread(target=lambda: done.append(err_code(lambda: grc(t=t3["accessToken"]))))
    th.start()
    try:
        held = fake.wait_for(1, "GetRoleCredentials", timeout=10) and not done
        time.sleep(0.2)
        held = held and not done
    finally:
        fake.release()
        th.join(30)
    tap.is_((held, done), (True, [None]), "hold() parks a call until release()")
    st, body = krtest.http_request(fake.portal_url + "/token", data=b"{}", method="POST")
    tap.is_(st, 404, "the portal listener does not answer OIDC paths")

    log = json.dumps(fake.requests())
    leaked = [s for s in fake.issued_secrets() if s in log]
    tap.is_(len(leaked), 0, "no token, secret or code the fake issued is in its request log")
    tap.is_(sorted(set().union(*[r.keys() for r in fake.requests()])),
            sorted(fake_sso._RECORD_KEYS), "request records have exactly the documented keys")


def test_https_and_cli_v2(tap, run, state):
    moto = state["moto"]
    cert = fake_sso.make_cert(run)
    fake = run.adopt(FakeSSO(moto=moto, tls=cert, proxy=True))
    fake.add_user("alice")
    fake.add_role(A1, "Developer", users=["alice"])
    sso, _ = sso_clients(fake, verify=cert[0])
    tok = fake.issue_token("alice")
    tap.is_([a["accountId"] for a in sso.list_accounts(accessToken=tok["accessToken"])
             ["accountList"]], [A1], "HTTPS: botocore verifies the fake's certificate")

    aws = "/usr/bin/aws"
    if not os.access(aws, os.X_OK):
        raise Skip("AWS CLI v2 not at /usr/bin/aws (apt-get install awscli)")
    home = run.home()
    krtest.write_aws_config(home, """
        [sso-session corp]
        sso_start_url = %s
        sso_region = us-east-1
        sso_registration_scopes = sso:account:access

        [profile dev]
        sso_session = corp
        sso_account_id = %s
        sso_role_name = Developer
        region = us-east-1
        """ % (fake.start_url, A1))
    fake_sso.write_cli_token_cache(home, tok, session_name="corp")
    env = krtest.clean_env(krtest.aws_env(home, extra=fake.proxy_env()))
    outs = []
    for _ in range(2):
        p = subprocess.run([aws, "configure", "export-credentials", "--profile", "dev",
                            "--format", "process"], env=env, capture_output=True, text=True,
                           timeout=120, cwd="/")
        outs.append(p)
    p = outs[0]
    if p.returncode != 0:
        tap.ok(False, "aws configure export-credentials (v2) with our cache file",
               p.stderr[-1500:])
        return
    d = json.loads(p.stdout)
    sts = krtest.boto_client("sts", moto.url, d["AccessKeyId"], d["SecretAccessKey"],
                             d["SessionToken"])
    tap.is_(sts.get_caller_identity()["Arn"], fake.session_arn(A1, "Developer", "alice"),
            "AWS CLI v2 export-credentials: our cache file, the fake (real host names via "
            "its CONNECT proxy), credentials moto accepts")
    tap.is_([c["target"] for c in fake.connects()], ["portal.sso.us-east-1.amazonaws.com:443"],
            "the CLI reached the portal by its real name")
    tap.is_((outs[1].returncode, fake.count("GetRoleCredentials")), (0, 1),
            "a second CLI run uses its own credential cache (~/.aws/cli/cache)")


def main(tap, run):
    t0 = time.monotonic()
    state = {}
    with tap.test("setup: moto, the fake, roles mapped to moto"):
        setup(tap, run, state)
    if "home" not in state:
        return
    with tap.test("CLI token cache writer"):
        test_cli_cache_writer(tap, run, state)
    with tap.test("botocore SSO credential provider"):
        test_botocore_provider(tap, run, state)
    with tap.test("botocore SSO token provider refresh"):
        test_botocore_refresh(tap, run, state)
    with tap.test("device flow"):
        test_device_flow(tap, run, state)
    with tap.test("pagination"):
        test_pagination(tap, run, state)
    with tap.test("errors, Logout, request log"):
        test_errors(tap, run, state)
    with tap.test("HTTPS and AWS CLI v2"):
        test_https_and_cli_v2(tap, run, state)
    tap.diag("fake_sso test took %.1f s" % (time.monotonic() - t0))


krtest.main(main)
