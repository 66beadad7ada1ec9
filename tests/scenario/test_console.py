"""keyrole console against moto (auth on) as STS and a local fake federation
endpoint (tests/lib/fake_signin.py, KEYROLE_FEDERATION_URL):

- a role profile: the fake gets the Session JSON (sessionId, sessionKey,
  sessionToken) of that role's session (GetCallerIdentity with it names the
  role's session, and it is the session `keyrole get` hands out), and the
  printed URL is FEDERATION?Action=login&Issuer=keyrole&Destination=<the
  region's console home>&SigninToken=<the fake's token>;
- --destination and --duration (SessionDuration) are honoured;
- long-term keys alone go through GetFederationToken first (the session is
  a federated user's, and no SessionDuration is sent: AWS refuses it with
  such a session; --duration goes to GetFederationToken instead);
- without --print, $BROWSER is run with the URL and stdout stays empty;
- without KEYROLE_FEDERATION_URL the partition's endpoint is asked (seen
  as the CONNECT of an HTTPS proxy that lets nothing out);
- the fake's refusal is exit 5, a bad KEYROLE_FEDERATION_URL exit 4;
- nothing secret (keys, session tokens, SigninTokens, URLs) reaches
  keyroled's log (at debug) or keyrole's stderr.
"""

import json
import os
import stat
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
from fake_signin import FakeSignin  # noqa: E402
from forward_proxy import ForwardProxy  # noqa: E402

SESSION = "kr-console"
FED_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:GetFederationToken",
                                                 "sts:GetCallerIdentity"], "Resource": "*"}],
})


def split_url(url):
    """-> (base, {param: value}) of a printed login URL."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
    return "%s://%s%s" % (u.scheme, u.netloc, u.path), {k: v[0] for k, v in q.items()}


def caller_arn(moto, session):
    sts = moto.client("sts", session["sessionId"], session["sessionKey"],
                      session["sessionToken"])
    return sts.get_caller_identity()["Arn"]


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    with moto.admin() as iam:
        iam.create_user(UserName="fed-user")
        fkey = iam.create_access_key(UserName="fed-user")["AccessKey"]
        iam.put_user_policy(UserName="fed-user", PolicyName="fed", PolicyDocument=FED_POLICY)
    home = run.home()
    cfg, creds = krtest.chain_config(seed, session_name=SESSION, process_profiles=False)
    cfg += "\n[profile fed]\nregion = eu-west-1\n"
    # Tool profiles (what the AWS tools use): console acts on their targets.
    cfg += ("\n[profile tool-prod]\ncredential_process = %s get prod\n"
            "\n[profile tool-fed]\ncredential_process = %s get fed\n"
            % (krtest.keyrole(), krtest.keyrole()))
    creds += "\n[fed]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
        fkey["AccessKeyId"], fkey["SecretAccessKey"])
    # A role's session as static keys: a console without any STS call, in any partition.
    sess = moto.client("sts", seed["access_key_id"], seed["secret_access_key"]).assume_role(
        RoleArn=seed["roles"]["prod"], RoleSessionName=SESSION)["Credentials"]
    cfg += "\n[profile sess]\nregion = us-east-1\n"
    creds += ("\n[sess]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
              "aws_session_token = %s\n" % (sess["AccessKeyId"], sess["SecretAccessKey"],
                                             sess["SessionToken"]))
    krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    fake = run.adopt(FakeSignin())
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1",
                                                      "KEYROLE_FEDERATION_URL": fake.url})
    secrets_seen = [seed["secret_access_key"], fkey["SecretAccessKey"], sess["SecretAccessKey"],
                    sess["SessionToken"]]
    stderrs = []

    def console(*args, e=None):
        p = krtest.run_client(["console"] + list(args), env=e or env)
        stderrs.append(p.stderr)
        return p

    def remember(req, url=None):
        if req and req.get("session"):
            secrets_seen.extend([req["session"].get("sessionKey"),
                                 req["session"].get("sessionToken")])
        if req and req.get("token"):
            secrets_seen.append(req["token"])
        if url:
            secrets_seen.append(url)

    with tap.test("console --print for a role: the fake gets that role's session, the URL "
                  "logs in with the fake's SigninToken at the region's console home") as t:
        p = console("prod", "--print")
        req = fake.last()
        url = p.stdout.strip()
        remember(req, url)
        t.is_(p.returncode, 0, "exit 0", p.stderr)
        t.ok(p.stdout.endswith("\n") and p.stdout.count("\n") == 1, "stdout is one line")
        t.ok(req is not None and req["keys"] == ["sessionId", "sessionKey", "sessionToken"],
             "the fake got the Session JSON with sessionId, sessionKey, sessionToken",
             req and repr(req["keys"]))
        t.ok(req is not None and req["duration"] is None, "no SessionDuration without --duration")
        if req and req["session"]:
            t.is_(caller_arn(moto, req["session"]), krtest.session_arn("prod", SESSION),
                  "GetCallerIdentity with that session names the prod role's session")
            g = krtest.run_client(["get", "prod"], env=env)
            t.is_(json.loads(g.stdout or "{}").get("AccessKeyId"), req["session"]["sessionId"],
                  "its sessionId is the access key `keyrole get prod` hands out")
        base, q = split_url(url)
        t.is_(base, fake.url, "the URL is at the federation endpoint")
        t.is_(q.get("Action"), "login", "Action=login")
        t.is_(q.get("Issuer"), "keyrole", "Issuer=keyrole")
        t.is_(q.get("Destination"), "https://us-east-1.console.aws.amazon.com/console/home"
              "?region=us-east-1", "Destination is the console home of the profile's region")
        t.ok(req is not None and req["token"] and q.get("SigninToken") == req["token"],
             "SigninToken is the one the fake answered")

    with tap.test("console of a tool profile acts on its target") as t:
        p = console("tool-prod", "--print")
        req = fake.last()
        remember(req, p.stdout.strip())
        t.is_(p.returncode, 0, "console tool-prod: exit 0", p.stderr)
        if req and req["session"]:
            t.is_(caller_arn(moto, req["session"]), krtest.session_arn("prod", SESSION),
                  "the session is prod's (no second keyrole ran)")
        n = len(fake.requests())
        p = console("tool-fed", "--print")
        req = fake.last()
        remember(req, p.stdout.strip())
        t.is_(p.returncode, 0, "console tool-fed (long-term keys behind it): exit 0", p.stderr)
        t.is_(len(fake.requests()), n + 1, "one getSigninToken")
        t.is_(split_url(p.stdout.strip())[1].get("Destination"),
              "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1",
              "the target's region decides the console home")

    with tap.test("--destination and --duration are honoured") as t:
        dest = "https://us-east-1.console.aws.amazon.com/s3/home?region=us-east-1"
        p = console("prod-admin", "--print", "--destination", dest, "--duration", "1800")
        req = fake.last()
        remember(req, p.stdout.strip())
        t.is_(p.returncode, 0, "exit 0", p.stderr)
        t.is_(req and req["duration"], "1800", "SessionDuration=1800 for a role's session")
        if req and req["session"]:
            t.is_(caller_arn(moto, req["session"]), krtest.session_arn("prod-admin", SESSION),
                  "the session is prod-admin's (a chained role)")
        t.is_(split_url(p.stdout.strip())[1].get("Destination"), dest, "Destination as given")
        bad = console("prod", "--print", "--duration", "60")
        t.is_(bad.returncode, 2, "--duration 60 is a usage error")
        bad = console("prod", "--print", "--destination", "file:///etc/passwd")
        t.is_(bad.returncode, 2, "a file:// destination is a usage error")

    with tap.test("long-term keys alone: GetFederationToken first, no SessionDuration") as t:
        n = len(fake.requests())
        p = console("fed", "--print", "--duration", "1800")
        req = fake.last()
        remember(req, p.stdout.strip())
        t.is_(p.returncode, 0, "exit 0", p.stderr)
        t.is_(len(fake.requests()), n + 1, "one getSigninToken")
        t.ok(req is not None and req["duration"] is None,
             "no SessionDuration with GetFederationToken's session")
        if req and req["session"]:
            t.ok(req["session"]["sessionId"] != fkey["AccessKeyId"] and
                 req["session"].get("sessionToken"),
                 "the session is temporary, not the long-term keys")
            # moto answers GetFederationToken with fixed credentials of its own
            # (GetCallerIdentity does not know them): the same ones prove the call.
            fed = moto.client("sts", fkey["AccessKeyId"], fkey["SecretAccessKey"]) \
                .get_federation_token(Name="probe")["Credentials"]
            t.ok(req["session"]["sessionToken"] == fed["SessionToken"] and
                 req["session"]["sessionId"] == fed["AccessKeyId"],
                 "it is GetFederationToken's session, made with fed's keys (auth on)")
        t.is_(split_url(p.stdout.strip())[1].get("Destination"),
              "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1",
              "Destination is eu-west-1's console home")

    with tap.test("without --print the URL goes to $BROWSER, not to stdout") as t:
        out = run.path("browser-arg")
        script = run.path("browser.sh")
        with open(script, "w") as f:
            f.write('#!/bin/sh\numask 077\nprintf "%%s\\n" "$@" > "%s"\n' % out)
        os.chmod(script, stat.S_IRWXU)
        p = console("prod", e=dict(env, BROWSER=script))
        req = fake.last()
        remember(req)
        t.is_(p.returncode, 0, "exit 0", p.stderr)
        t.is_(p.stdout, "", "nothing on stdout")
        t.ok(krtest.wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > 0),
             "the browser ran")
        got = open(out).read().strip() if os.path.exists(out) else ""
        remember(None, got)
        base, q = split_url(got)
        t.ok(base == fake.url and q.get("Action") == "login" and req and
             q.get("SigninToken") == req["token"], "it got the login URL")
        t.ok("console" in p.stderr and "Opened" in p.stderr, "one line on stderr says so",
             p.stderr)

    with tap.test("without KEYROLE_FEDERATION_URL the partition's endpoint is asked") as t:
        # keys with a session token (a role's): no STS call, whatever the partition
        proxy = run.adopt(ForwardProxy())
        e = {k: v for k, v in env.items() if k != "KEYROLE_FEDERATION_URL"}
        e["HTTPS_PROXY"] = proxy.url
        for region, host in (("us-east-1", "signin.aws.amazon.com:443"),
                             ("us-gov-west-1", "signin.amazonaws-us-gov.com:443"),
                             ("cn-north-1", "signin.amazonaws.cn:443")):
            p = console("sess", "--print", e=dict(e, AWS_REGION=region))
            t.is_(p.returncode, 7, "%s: the proxy lets nothing out: exit 7" % region,
                  p.stderr)
            t.ok(any(r["method"] == "CONNECT" and r["target"] == host
                     for r in proxy.requests()), "%s: CONNECT %s" % (region, host))

    with tap.test("failures: the endpoint's refusal, a bad KEYROLE_FEDERATION_URL") as t:
        fake.fail_next(400, b'{"message":"secret-echo"}')
        p = console("prod", "--print")
        t.is_(p.returncode, 5, "HTTP 400 from the endpoint: exit 5", p.stderr)
        t.ok("secret-echo" not in p.stderr and p.stdout == "",
             "the answer's body is not quoted; stdout empty")
        fake.answer_next(b'{"nope":1}')
        p = console("prod", "--print")
        t.ok(p.returncode != 0 and "SigninToken" in p.stderr, "an answer without SigninToken",
             p.stderr)
        p = console("prod", "--print", e=dict(env, KEYROLE_FEDERATION_URL=fake.url + "?x=1"))
        t.is_(p.returncode, 4, "KEYROLE_FEDERATION_URL with a query: exit 4", p.stderr)

    with tap.test("an MFA profile: console asks for the code as get does, and shares its cache") as t:
        # moto's GetSessionToken returns example keys unknown to its IAM: auth off here.
        moto.disable_auth()
        with open(os.path.join(home, ".aws", "config"), "a") as f:
            f.write("\n[profile mfa-c]\nrole_arn = %s\nsource_profile = dev\nmfa_serial = %s\n"
                    "role_session_name = %s\nregion = us-east-1\n"
                    % (seed["roles"]["prod"], seed["mfa_serial"], SESSION))
        p = console("mfa-c", "--print", "--mfa-code", "123456")
        req = fake.last()
        remember(req, p.stdout.strip())
        t.is_(p.returncode, 0, "with --mfa-code: exit 0", p.stderr)
        t.is_(split_url(p.stdout.strip())[1].get("SigninToken"), req and req["token"],
              "the URL has the fake's token")
        g = krtest.run_client(["get", "mfa-c"], env=env)
        t.is_(g.returncode, 0, "`keyrole get mfa-c` then needs no code (the session is cached)",
              g.stderr)
        t.is_(json.loads(g.stdout or "{}").get("AccessKeyId"),
              req and req["session"] and req["session"]["sessionId"],
              "and hands out the session the console signed in with")
        # Last: a prompt nobody answers keeps the device's waiters waiting
        # (KR_MFA_WAIT_MS), so it uses a device of its own.
        with open(os.path.join(home, ".aws", "config"), "a") as f:
            f.write("\n[profile mfa-d]\nrole_arn = %s\nsource_profile = dev\n"
                    "mfa_serial = arn:aws:iam::%s:mfa/other\nrole_session_name = %s\n"
                    % (seed["roles"]["prod"], seed["account"], SESSION))
        n = len(fake.requests())
        p = console("mfa-d", "--print")
        t.is_(p.returncode, 6, "no code and no terminal: exit 6", p.stderr)
        t.ok(p.stdout == "" and len(fake.requests()) == n, "no URL, nothing asked of the endpoint")
        moto.enable_auth()

    with tap.test("nothing secret in keyroled's log (debug) or keyrole's stderr") as t:
        log = d.log_text()
        found = [i for i, s in enumerate(secrets_seen) if s and s in log]
        t.ok(len(secrets_seen) > 8 and not found, "no key, token, SigninToken or URL in the log",
             "secret #%s found" % found)
        err = "\n".join(stderrs)
        found = [i for i, s in enumerate(secrets_seen) if s and s in err]
        t.ok(not found, "none on stderr", "secret #%s found" % found)
        t.ok("getSigninToken" not in log and "SigninToken=" not in log,
             "no federation URL in the log")


if __name__ == "__main__":
    krtest.main(main)
