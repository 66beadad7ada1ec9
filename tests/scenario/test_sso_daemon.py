#!/usr/bin/env python3
"""IAM Identity Center end to end: the real keyrole and keyroled against
tests/lib/fake_sso.py (portal + OIDC) backed by moto's STS with IAM
enforcement on, and the real consumers.

- 100 concurrent `keyrole get` of one SSO profile make one
  GetRoleCredentials; a role chained on top (source_profile) is assumed in
  moto with the SSO session's credentials;
- a token in botocore's 15-minute window is refreshed once for many
  callers; the AWS CLI's cache file stays as it was (bytes and mtime);
  after a restart the token comes from keyrole's keyring item (Secret
  Service), without the CLI's file;
- an expired session (and a legacy profile's) is one line naming
  `keyrole login` and exit status 8, the legacy one without any request;
- `keyrole login` with $BROWSER approving on the fake's page, two logins
  at once sharing one device authorization, slow_down, a denial; two
  `keyrole get` on terminals after a logout log in inline with one device
  authorization and go on;
  `keyrole logout`; `keyrole sso profiles` (every page);
- status lists the session, and no token, refresh token or client secret
  is in keyroled's log, status, check, or the keyring item's attributes;
- AWS CLI v1, AWS CLI v2 (if installed) and boto3 with credential_process;
  botocore's own SSO provider on the same files names the same session.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402
from fake_sso import FakeSSO, write_cli_token_cache  # noqa: E402
from test_client_cli import client_pty  # noqa: E402

A1, A2, A3 = "111111111111", "222222222222", "333333333333"

# A $BROWSER: waits a little (so that a second login can join), then opens
# the verification page it is given (its last argument), no proxies.
BROWSER = r"""#!%s
import sys, time, urllib.request
time.sleep(float(%r))
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with o.open(sys.argv[-1], timeout=10) as r:
    r.read()
"""

# botocore's own SSO provider on the same files: the session ARN, never a secret.
BOTOCORE = r"""
import json, sys, boto3
s = boto3.Session(profile_name=sys.argv[1])
print(s.client("sts", endpoint_url=sys.argv[2]).get_caller_identity()["Arn"])
"""

IDENT = r"""
import boto3, sys
s = boto3.Session(profile_name=sys.argv[1])
print(s.client("sts", endpoint_url=sys.argv[2]).get_caller_identity()["Arn"])
"""

# Under `keyrole exec --server`: boto3 with no profile (the container
# provider), then, once the test says go, the endpoint itself: its status
# and body (the SDKs show the body's message).
UNDER_SERVER = r"""
import boto3, json, os, sys, time, urllib.request, urllib.error
print(boto3.client("sts", endpoint_url=sys.argv[1]).get_caller_identity()["Arn"], flush=True)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                             headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with o.open(req, timeout=30) as r:
        print(r.status, json.loads(r.read()).get("AccessKeyId", "")[:4], flush=True)
except urllib.error.HTTPError as e:
    print(e.code, json.loads(e.read()).get("message", ""), flush=True)
"""


def sh(argv, env, timeout=60):
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, timeout=timeout,
                       cwd="/", stdin=subprocess.DEVNULL, start_new_session=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def file_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return f.read(), st.st_mtime_ns


def arn_of(creds, moto_url):
    """get-caller-identity with credentials (keyrole get's JSON) -> the ARN."""
    c = json.loads(creds)
    sts = krtest.boto_client("sts", moto_url, c["AccessKeyId"], c["SecretAccessKey"],
                             c.get("SessionToken"))
    return sts.get_caller_identity()["Arn"]


def main(tap, run):
    krtest.require_file(krtest.keyrole(), "keyrole")
    krtest.require_file(krtest.keyroled(), "keyroled")
    moto = run.moto()
    fake = run.adopt(FakeSSO(moto=moto, page_size=2, device_interval=1))
    corp, gone = "kr-e2e-" + uuid.uuid4().hex[:8], "kr-gone-" + uuid.uuid4().hex[:8]
    fake.add_user("alice")
    fake.add_account(A1, "prod", "prod@example.com")
    fake.add_account(A2, "staging")
    fake.add_account(A3, "sandbox")
    fake.add_role(A1, "Developer", users=["alice"])
    fake.add_role(A1, "Admin", users=["alice"])
    fake.add_role(A2, "ReadOnly", users=["alice"], moto=False)
    fake.add_role(A3, "Audit", users=["alice"], moto=False)
    dev_arn = fake.session_arn(A1, "Developer", "alice")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": [dev_arn]}, "Action": "sts:AssumeRole"}]})
    with fake.moto_iam(A1) as iam:
        after = iam.create_role(RoleName="after-sso", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName="after-sso", PolicyName="ident", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}))
    moto.enable_auth()

    home = run.home()
    exe = krtest.keyrole()
    cfg, _ = krtest.write_aws_config(home, """
        [sso-session {corp}]
        sso_start_url = {su}
        sso_region = us-east-1
        sso_registration_scopes = sso:account:access

        [sso-session {gone}]
        sso_start_url = {su}
        sso_region = us-east-1

        [profile dev]
        sso_session = {corp}
        sso_account_id = {a1}
        sso_role_name = Developer
        region = us-east-1

        [profile admin]
        sso_session = {corp}
        sso_account_id = {a1}
        sso_role_name = Admin
        region = us-east-1

        [profile chained]
        role_arn = {after}
        source_profile = dev
        role_session_name = hop
        region = us-east-1

        [profile noaccess]
        sso_session = {corp}
        sso_account_id = {a1}
        sso_role_name = Nope

        [profile expired]
        sso_session = {gone}
        sso_account_id = {a1}
        sso_role_name = Developer

        [profile legacy]
        sso_start_url = {su}
        sso_region = us-east-1
        sso_account_id = {a1}
        sso_role_name = Developer

        [profile dev-tool]
        credential_process = {exe} get dev
        region = us-east-1

        [profile chained-tool]
        credential_process = {exe} get chained
        region = us-east-1
        """.format(corp=corp, gone=gone, su=fake.start_url, a1=A1, after=after["Role"]["Arn"],
                   exe=exe), "")
    ks = run.keyring()
    sockdir = run.mkdtemp("sock-")
    daemons = []

    def start_daemon():
        d = run.adopt(krtest.Daemon(None, home, sockdir, run=run, cache="secret-service",
                                    env=ks.env()).start())
        daemons.append(d)
        return d

    d = start_daemon()
    env = krtest.aws_env(home, d.socket, endpoint_url=moto.url,
                         extra=dict(fake.env(), KEYROLE_NO_AUTOSTART="1"))
    outputs = []

    def kr(*args, e=None, timeout=60):
        rc, out, err = sh([exe] + list(args), e or env, timeout)
        outputs.append(out + err)
        return rc, out, err

    browser = run.path("browser")

    def set_browser(delay):
        with open(browser, "w") as f:
            f.write(BROWSER % (sys.executable, delay))
        os.chmod(browser, 0o700)

    set_browser(0)
    tok = fake.issue_token("alice", ttl=600)  # in the window: refreshed at the first use
    cli_file = write_cli_token_cache(home, tok, session_name=corp)
    before = file_state(cli_file)

    with tap.test("a token in the window: one refresh and one GetRoleCredentials for 100 gets"):
        fake.reset_counts()
        res = krtest.start_many([[exe, "get", "dev"]] * 100, env=env, timeout=60)
        bad = [r for r in res if r.rc != 0]
        tap.ok(not bad, "100 gets answered", "; ".join(r.stderr for r in bad[:3]))
        keys = {json.loads(r.stdout)["AccessKeyId"] for r in res if r.rc == 0}
        tap.is_(len(keys), 1, "one set of credentials for all")
        tap.is_(fake.count("CreateToken:refresh_token"), 1, "exactly one CreateToken")
        tap.is_(fake.count("GetRoleCredentials"), 1, "exactly one GetRoleCredentials")
        good = [r for r in res if r.rc == 0]
        tap.is_(good and arn_of(good[0].stdout, moto.url), dev_arn,
                "moto (auth on) takes them: the SSO role session of alice")
        tap.is_(file_state(cli_file), before, "the AWS CLI's file: same bytes, same mtime")

    with tap.test("a role chained on top of the SSO profile"):
        rc, out, err = kr("get", "chained")
        tap.is_(rc, 0, "keyrole get chained", err)
        tap.is_(rc == 0 and arn_of(out, moto.url),
                "arn:aws:sts::%s:assumed-role/after-sso/hop" % A1,
                "moto's AssumeRole with the SSO session's credentials")

    with tap.test("a role the user may not take: the portal's refusal in one line"):
        rc, out, err = kr("get", "noaccess")
        tap.is_((rc, out, err.count("\n")), (5, "", 1), "exit 5, one line", err)
        tap.ok(err.startswith("keyrole: noaccess: GetRoleCredentials %s/Nope: "
                              "ForbiddenException: " % A1) and err.count("GetRoleCredentials") == 1,
               "the step, then the portal's code, once", err)
        tap.ok("sso_role_name" in err, "the fix names sso_role_name", err)

    with tap.test("status lists the session, never a token"):
        rc, out, err = kr("status", "--json")
        st = json.loads(out or "{}")
        ses = [s for s in st.get("sso_sessions", []) if s.get("session") == corp]
        tap.is_(len(ses), 1, "the session is listed", out)
        s = ses[0] if ses else {}
        tap.is_((s.get("start_url"), s.get("region"), s.get("from"), s.get("refresh_token")),
                (fake.start_url, "us-east-1", "refresh", True), "its start URL, region, origin")
        rc, out, err = kr("status")
        tap.ok("IAM Identity Center sessions:" in out and corp in out, "and in the text", out)

    with tap.test("after a restart the token comes from keyrole's keyring item"):
        d.stop()
        os.unlink(cli_file)
        d = start_daemon()
        fake.reset_counts()
        rc, out, err = kr("get", "admin")  # a role not cached: the token is needed
        tap.is_(rc, 0, "keyrole get admin, without the CLI's file", err)
        tap.is_((fake.count("CreateToken"), fake.count("GetRoleCredentials")), (0, 1),
                "no CreateToken, one GetRoleCredentials")
        rc, out, err = kr("status", "--json")
        froms = [s.get("from") for s in json.loads(out or "{}").get("sso_sessions", [])
                 if s.get("session") == corp]
        tap.is_(froms, ["keyring"], "status: from the keyring")

    with tap.test("the keyring item: the session's name and start URL, no secret outside"):
        r = ks.secret_tool(["search", "--all", "kind", "sso"])
        attrs = [ln for ln in r.stdout.splitlines() + r.stderr.splitlines()
                 if ln.startswith("attribute.") or ln.startswith("label")]
        tap.ok(any(corp in ln for ln in attrs), "an item of the session", r.stdout + r.stderr)
        leaked = [s for s in fake.issued_secrets() if any(s in ln for ln in attrs)]
        tap.is_(leaked, [], "no token or secret in its label or attributes")

    with tap.test("expired, refresh refused: one line naming keyrole login, exit 8"):
        t = fake.issue_token("alice", ttl=-60)
        fake.expire_refresh(t["refreshToken"])
        write_cli_token_cache(home, t, session_name=gone)
        rc, out, err = kr("get", "expired")
        tap.is_((rc, out), (8, ""), "exit 8, nothing on stdout", err)
        tap.is_(err, 'keyrole: expired: the IAM Identity Center session "%s" has expired: run '
                'keyrole login %s\n' % (gone, gone), "the one line")

    with tap.test("legacy and expired: exit 8 without any request"):
        t = fake.issue_token("alice", ttl=-60)
        write_cli_token_cache(home, t, start_url=fake.start_url)
        fake.reset_counts()
        rc, out, err = kr("get", "legacy")
        tap.is_(rc, 8, "exit 8", err)
        tap.ok("keyrole login --profile legacy" in err and err.count("\n") == 1,
               "one line naming keyrole login --profile legacy", err)
        tap.is_(fake.count(), 0, "no request to the portal or OIDC")

    with tap.test("keyrole sso profiles: every account and role"):
        fake.reset_counts()
        rc, out, err = kr("sso", "profiles", corp)
        tap.is_(rc, 0, "exit 0", err)
        for acct, role in ((A1, "Admin"), (A1, "Developer"), (A2, "ReadOnly"), (A3, "Audit")):
            tap.ok("sso_account_id = %s\nsso_role_name = %s" % (acct, role) in out,
                   "%s/%s is listed" % (acct, role), out)
        tap.ok("sso_session = %s" % corp in out and "credential_process = %s get" % exe in out,
               "ready-to-paste sections", out)
        tap.is_(fake.count("ListAccounts"), 2, "both pages of accounts")

    with tap.test("consumers with credential_process: AWS CLI v1, v2, boto3"):
        for name, argv in (("AWS CLI v1", [sys.executable, "-m", "awscli"]),
                           ("AWS CLI v2", ["/usr/bin/aws"])):
            if not os.access(argv[0], os.X_OK):
                tap.skip(name, "not installed at %s" % argv[0])
                continue
            for prof, want in (("dev-tool", dev_arn),
                               ("chained-tool", "arn:aws:sts::%s:assumed-role/after-sso/hop"
                                % A1)):
                rc, out, err = sh(argv + ["sts", "get-caller-identity", "--profile", prof,
                                          "--endpoint-url", moto.url, "--output", "json"], env)
                tap.is_((rc, json.loads(out).get("Arn") if rc == 0 else err.strip()[-300:]),
                        (0, want), "%s: %s is %s" % (name, prof, want))
        rc, out, err = sh([sys.executable, "-c", IDENT, "dev-tool", moto.url], env)
        tap.is_((rc, out.strip() or err.strip()[-300:]), (0, dev_arn), "boto3: dev-tool")

    with tap.test("botocore's own SSO provider on the same files names the same session"):
        t = fake.issue_token("alice")
        write_cli_token_cache(home, t, session_name=corp)
        rc, out, err = sh([sys.executable, "-c", BOTOCORE, "dev", moto.url], env)
        tap.is_((rc, out.strip() or err.strip()[-300:]), (0, dev_arn), "botocore: dev")
        rc, out, err = kr("get", "dev")
        tap.is_(rc == 0 and arn_of(out, moto.url), dev_arn, "keyrole: the same ARN")

    with tap.test("logout: the next get needs a login, the CLI's file untouched"):
        rc, out, err = kr("logout", corp)  # keyrole's own token goes first
        tap.is_(rc, 0, "a first logout", err)
        t = fake.issue_token("alice")  # `aws sso login`: keyrole now uses the CLI's token
        cli_file = write_cli_token_cache(home, t, session_name=corp)
        rc, out, err = kr("get", "dev")
        tap.is_(rc == 0 and arn_of(out, moto.url), dev_arn, "get dev with the CLI's token", err)
        before = file_state(cli_file)
        fake.reset_counts()
        rc, out, err = kr("logout", corp)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(out.startswith("logged out of %s" % corp), "says so", out)
        tap.is_(fake.count("Logout"), 1, "the portal's Logout, with the token keyrole held")
        tap.ok(not fake.token_valid(t), "that login is over")
        rc, out, err = kr("get", "dev")
        tap.is_(rc, 8, "get dev: exit 8 (its cached credentials went too)", err)
        rc, out, err = kr("get", "chained")
        tap.is_(rc, 8, "get chained: exit 8", err)
        tap.is_(file_state(cli_file), before, "the AWS CLI's file: same bytes, same mtime")

    with tap.test("keyrole login: the browser approves, then get works"):
        fake.reset_counts()
        rc, out, err = kr("login", corp, e=dict(env, BROWSER=browser), timeout=90)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(out.startswith("logged in to %s (%s) until " % (corp, fake.start_url)),
               "the line", out)
        tap.is_(fake.count("StartDeviceAuthorization"), 1, "one device authorization")
        rc, out, err = kr("get", "dev")
        tap.is_(rc == 0 and arn_of(out, moto.url), dev_arn, "get dev works", err)
        rc, out, err = kr("login", corp)
        tap.ok(rc == 0 and "already" in out, "login again: logged in already", out)

    with tap.test("two logins at once share one device authorization; slow_down honoured"):
        set_browser(2.5)
        fake.reset_counts()
        fake.fail_next(1, "slow_down", api="CreateToken")
        lenv = dict(env, BROWSER=browser)
        res = krtest.start_many([[exe, "login", corp, "--force"]] * 2, env=lenv, timeout=90)
        tap.ok(all(r.rc == 0 for r in res), "both logged in",
               "; ".join("%r %s" % (r.rc, r.stderr) for r in res))
        tap.is_(fake.count("StartDeviceAuthorization"), 1, "one device authorization")
        tap.ok(any("already in progress" in r.stderr for r in res), "one joined the other",
               [r.stderr for r in res])
        dev = fake.devices()[-1]
        gaps = [b - a for a, b in zip(dev["polls"], dev["polls"][1:])]
        tap.ok(gaps and gaps[0] >= 5.5 and dev["too_fast"] == 0,
               "6 s after the slow_down, never faster than the interval", dev)
        set_browser(0)

    with tap.test("a denied login: a clear line, exit 8"):
        fake.verification_action = "deny"
        try:
            rc, out, err = kr("login", corp, "--force", e=dict(env, BROWSER=browser),
                              timeout=90)
        finally:
            fake.verification_action = "approve"
        tap.is_(rc, 8, "exit 8", err)
        tap.ok("denied" in err, "the line says the login was denied", err)

    with tap.test("after a logout, two gets on terminals log in inline once and go on"):
        rc, out, err = kr("logout", corp)
        tap.is_(rc, 0, "logged out", err)
        os.unlink(cli_file)  # its token was logged out above: no token anywhere now
        set_browser(2.5)
        fake.reset_counts()
        seen = [None, None]

        def get_on_tty(i):
            seen[i] = client_pty(["get", "chained"], dict(env, BROWSER=browser), [], timeout=90)

        ths = [threading.Thread(target=get_on_tty, args=(i,)) for i in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(120)
        set_browser(0)
        outputs.extend(s[1] for s in seen if s)
        tap.ok(all(s and s[0] == 0 for s in seen), "both got credentials",
               [s and (s[0], s[1][-300:]) for s in seen])
        tap.ok(all(s and "needs a login" in s[1] and '"AccessKeyId"' in s[1] for s in seen),
               "each said why on its terminal, then printed the credentials",
               [s and s[1][-300:] for s in seen])
        tap.is_((fake.count("StartDeviceAuthorization"), fake.count("GetRoleCredentials")),
                (1, 1), "one device authorization, one GetRoleCredentials")
        rc, out, err = kr("get", "chained")
        tap.is_(rc == 0 and arn_of(out, moto.url),
                "arn:aws:sts::%s:assumed-role/after-sso/hop" % A1, "and without a terminal now", err)

    with tap.test("check shows the SSO source"):
        rc, out, err = kr("check", "chained")
        tap.is_(rc, 0, "exit 0", err)
        tap.ok("(sso %s/Developer)" % A1 in out, "the chain names the SSO source", out)

    with tap.test("exec --server on the SSO chain; after a logout the endpoint says so"):
        ready, go = run.path("srv-ready"), run.path("srv-go")
        fake.reset_counts()
        child = subprocess.Popen([exe, "exec", "--server", "chained", "--", sys.executable, "-c",
                                  UNDER_SERVER, moto.url, ready, go],
                                 env=krtest.clean_env(env), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd="/",
                                 stdin=subprocess.DEVNULL)
        run.add_cleanup(krtest.stop_process, child)
        tap.ok(krtest.wait_until(lambda: os.path.exists(ready) or child.poll() is not None, 60),
               "the command got credentials from the endpoint")
        rc, out, err = kr("logout", corp)
        tap.is_(rc, 0, "logout while it runs", err)
        open(go, "w").close()
        try:
            out, err = child.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        outputs.append(out + err)
        lines = out.splitlines()
        tap.is_(child.returncode, 0, "the command and keyrole exit 0", err[-500:])
        tap.is_(lines[:1], ["arn:aws:sts::%s:assumed-role/after-sso/hop" % A1],
                "boto3 (container provider) is the role chained on the SSO session")
        tap.ok(len(lines) > 1 and lines[1].startswith("503 ") and corp in lines[1]
               and "keyrole login" in lines[1],
               "then 503 with a message that names the session and keyrole login", lines)

    with tap.test("no token, refresh token or client secret in logs, status or check"):
        secrets = [s for s in fake.issued_secrets() if len(s) >= 8]
        tap.ok(len(secrets) > 10, "%d secrets issued to look for" % len(secrets))
        logs = "".join(x.log_text() for x in daemons)
        tap.ok(len(logs) > 0, "the daemons logged (debug)")
        found = [s[:6] + "..." for s in secrets if s in logs]
        tap.is_(found, [], "none in keyroled's log")
        rc, out, err = kr("status")
        rc, out2, err2 = kr("check")
        text = out + err + out2 + err2 + "".join(o for o in outputs if "AccessKeyId" not in o)
        found = [s[:6] + "..." for s in secrets if s in text]
        tap.is_(found, [], "none in status, check or any other output")


    with tap.test("every keyroled ends cleanly (no sanitizer report, exit 0 on SIGTERM)"):
        for x in daemons:
            rc = x.stop(timeout=30)
            log = x.log_text()
            tap.ok(rc in (0, None) and "Sanitizer" not in log and "runtime error" not in log,
                   "keyroled exits %r with nothing to report" % rc, log[-3000:])


if __name__ == "__main__":
    krtest.main(main)
