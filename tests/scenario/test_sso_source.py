#!/usr/bin/env python3
"""The IAM Identity Center source through the real keyroled and keyrole:
`keyrole check` on legacy, sso-session and chained profiles (botocore's
configuration errors with file and line), the portal endpoint the caller's
AWS_ENDPOINT_URL_SSO chooses, and `keyrole get` of a profile whose session
has no login: error "login" carrying the session and its start URL, the
client's one line and exit status 8 without a terminal, and what status
shows of it. (No token exists anywhere here, so the answer is "login"
whatever keeps the tokens.)
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402
from test_client_cli import client  # noqa: E402

START = "https://corp.awsapps.com/start"
OLD = "https://old.awsapps.com/start"

CONFIG = """\
[sso-session corp]
sso_start_url = %(start)s
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[profile dev]
sso_session = corp
sso_account_id = 111111111111
sso_role_name = Developer
region = eu-west-1

[profile old]
sso_start_url = %(old)s
sso_region = us-east-1
sso_account_id = 222222222222
sso_role_name = Admin

[profile prod-chain]
role_arn = arn:aws:iam::333333333333:role/ops
source_profile = dev
duration_seconds = 7200

[profile broken]
sso_session = corp
sso_region = us-east-2
sso_account_id = 111111111111
sso_role_name = Developer
""" % {"start": START, "old": OLD}


def check_json(env, profile):
    rc, out, err = client(["check", profile, "--json"], env)
    try:
        return rc, json.loads(out)[0]
    except (ValueError, IndexError):
        return rc, {"crash": err}


def main(tap, run):
    home = run.home()
    cfg, _ = krtest.write_aws_config(home, CONFIG, "")
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, extra={"KEYROLE_NO_AUTOSTART": "1"})

    with tap.test("check: an sso-session profile, a legacy one, a role chained on one"):
        rc, out, err = client(["check", "dev"], env)
        tap.is_(rc, 0, "dev checks", err)
        tap.ok("chain: dev (sso 111111111111/Developer)" in out, "dev's chain", out)
        rc, rep = check_json(env, "dev")
        src = (rep.get("steps") or [{}])[0]
        tap.is_({k: src.get(k) for k in ("type", "sso_session", "start_url", "region",
                                         "account_id", "role_name", "endpoint")},
                {"type": "sso", "sso_session": "corp", "start_url": START,
                 "region": "eu-west-1", "account_id": "111111111111", "role_name": "Developer",
                 "endpoint": "https://portal.sso.eu-west-1.amazonaws.com"},
                "the source step's fields", json.dumps(rep))
        rc, rep = check_json(env, "old")
        src = (rep.get("steps") or [{}])[0]
        tap.ok(rc == 0 and src.get("type") == "sso" and "sso_session" not in src
               and src.get("start_url") == OLD
               and src.get("endpoint") == "https://portal.sso.us-east-1.amazonaws.com",
               "a legacy profile: its start URL, no session", json.dumps(rep))
        rc, out, err = client(["check", "prod-chain"], env)
        tap.is_(rc, 0, "the chained role checks", err)
        tap.ok("chain: dev (sso 111111111111/Developer) -> arn:aws:iam::333333333333:role/ops"
               in out, "the role on top of the SSO source", out)
        tap.ok("IAM Identity Center role credentials" in out and "lowered to 3600" in out,
               "role chaining from IAM Identity Center credentials is explained", out)

    with tap.test("check: botocore's message, with file and line"):
        rc, out, err = client(["check", "broken"], env)
        tap.is_(rc, 1, "exit 1", err)
        tap.ok("%s:25: error: The value for sso_region is inconsistent between profile "
               "(us-east-2) and sso-session (eu-west-1)." % cfg in out, "the line", out)

    with tap.test("the caller's AWS_ENDPOINT_URL_SSO chooses the portal"):
        rc, rep = check_json(dict(env, AWS_ENDPOINT_URL_SSO="http://127.0.0.1:9"), "dev")
        src = (rep.get("steps") or [{}])[0]
        tap.is_(src.get("endpoint"), "http://127.0.0.1:9", "the portal endpoint", json.dumps(rep))

    with tap.test("get: error login names the session, exit 8 without a terminal"):
        rc, out, err = client(["get", "dev"], env)
        tap.is_((rc, out), (8, ""), "exit 8, nothing on stdout", err)
        tap.is_(err, 'keyrole: dev: the IAM Identity Center session "corp" has expired: run '
                'keyrole login corp\n', "the client's one line")
        rc, out, err = client(["get", "prod-chain"], env)
        tap.is_((rc, out), (8, ""), "the chain fails at its SSO source", err)
        tap.ok('session "corp"' in err and "keyrole login corp" in err, "and says so", err)
        rc, out, err = client(["get", "old"], env)
        tap.is_(rc, 8, "a legacy profile: exit 8", err)
        tap.is_(err, 'keyrole: old: the IAM Identity Center session "%s" has expired: run '
                'keyrole login --profile old\n' % OLD, "logged in through the profile")

    with tap.test("the daemon's reply carries the session and its start URL"):
        req = {"v": 1, "op": "get", "profile": "prod-chain",
               "env": {"HOME": home, "AWS_CONFIG_FILE": cfg}}
        r = d.request(req)
        tap.is_((r.get("ok"), r.get("error"), r.get("sso_session"), r.get("sso_start_url")),
                (False, "login", "corp", START), "error login, session, start URL",
                json.dumps(r))
        tap.is_(r.get("fix"), "run keyrole login corp", "the fix")
        tap.ok('profile "dev"' in r.get("message", "") and "corp" in r.get("message", ""),
               "the message names the profile and the session", r.get("message"))
        r = d.request(dict(req, profile="old"))
        tap.is_((r.get("error"), r.get("sso_session"), r.get("sso_start_url"), r.get("fix")),
                ("login", OLD, OLD, "run keyrole login --profile old"),
                "a legacy profile: its start URL is the session", json.dumps(r))

    with tap.test("status shows the failed step as GetRoleCredentials ACCOUNT/ROLE"):
        rc, out, err = client(["status", "--json"], env)
        entries = json.loads(out or "{}").get("entries", [])
        sso = [e for e in entries if e.get("source") == "sso"]
        tap.ok(any(e.get("role") == "GetRoleCredentials 111111111111/Developer"
                   and "needs a login" in e.get("refresh_error", "") for e in sso),
               "the entry, its role label and why it failed", out)
        tap.ok(d.alive(), "keyroled still runs")


if __name__ == "__main__":
    krtest.main(main)
