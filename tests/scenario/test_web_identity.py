"""Web identity: AssumeRoleWithWebIdentity against moto (auth enforced),
unsigned, with the token read from its file on every fetch (a rotated
token is what the next call carries), as the source of further hops, from
a profile's web_identity_token_file or the caller's
AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN / AWS_ROLE_SESSION_NAME.

moto 5.2 answers HTTP 500 to an unsigned call while its auth is enforced,
so the fault proxy turns auth off around each AssumeRoleWithWebIdentity
only; the AssumeRole chained on it is signed with the web identity
session's keys and checked by moto."""

import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "wi-sess"


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def write_token(path, token):
    """Replace the file as Kubernetes does (a new file renamed over the old)."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(token)
    os.rename(tmp, path)


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto)
    with moto.admin() as iam:
        webid = krtest.add_role(iam, "webid", "*")
        on_webid = krtest.add_role(iam, "on-webid", [krtest.session_arn("webid", SESSION)])
    proxy = run.proxy(moto.url)
    proxy.around_action("AssumeRoleWithWebIdentity", moto.disable_auth, moto.enable_auth)
    home = run.home()
    token = run.path("token")
    write_token(token, "token-one")
    cfg = ("[profile wi]\nrole_arn = %s\nweb_identity_token_file = %s\n"
           "role_session_name = %s\n\n"
           "[profile on-wi]\nrole_arn = %s\nsource_profile = wi\nrole_session_name = kr-test\n\n"
           "[profile plain]\nregion = us-east-1\n\n"
           "[profile tool]\ncredential_process = %s get on-wi\nregion = us-east-1\n\n"
           "[profile missing]\nrole_arn = %s\nweb_identity_token_file = %s\n"
           % (webid, token, SESSION, on_webid, krtest.keyrole(), webid,
              run.path("no-such-token")))
    krtest.write_aws_config(home, cfg, "")
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, proxy.url, {"KEYROLE_NO_AUTOSTART": "1"})
    sts = lambda c: moto.client("sts", c["AccessKeyId"], c["SecretAccessKey"],  # noqa: E731
                                c["SessionToken"])

    def webid_calls():
        return [r for r in proxy.requests() if r["action"] == "AssumeRoleWithWebIdentity"]

    with tap.test("a web identity profile gets its role"):
        p = krtest.run_client(["get", "wi"], env=env)
        tap.is_(p.returncode, 0, "keyrole get wi", p.stderr)
        creds = json.loads(p.stdout or "{}")
        arn = sts(creds).get_caller_identity()["Arn"] if creds else None
        tap.is_(arn, krtest.session_arn("webid", SESSION), "moto names the session")
        calls = webid_calls()
        tap.is_(len(calls), 1, "one AssumeRoleWithWebIdentity")
        tap.ok(calls and calls[-1]["token_sha"] == sha("token-one") and
               calls[-1]["session_name"] == SESSION and calls[-1]["role_arn"] == webid,
               "it carried the file's token, the role and the session name")
        tap.ok("Expiration" in creds, "with an Expiration")
        tap.ok(calls and calls[-1]["signed"] is False, "unsigned (no Authorization header)")

    with tap.test("a role chained on it"):
        p = krtest.run_client(["get", "on-wi"], env=env)
        tap.is_(p.returncode, 0, "keyrole get on-wi", p.stderr)
        creds = json.loads(p.stdout or "{}")
        arn = sts(creds).get_caller_identity()["Arn"] if creds else None
        tap.is_(arn, krtest.session_arn("on-webid", "kr-test"), "the chained role's session")
        tap.is_(len(webid_calls()), 1, "the web identity session came from the cache")
        tap.is_(proxy.count("AssumeRole"), 1, "one AssumeRole, signed by it (moto checked)")

    with tap.test("boto3 gets the chained role through credential_process"):
        code = ("import boto3,sys\n"
                "s=boto3.Session(profile_name='tool')\n"
                "print(s.client('sts',endpoint_url=sys.argv[1]).get_caller_identity()['Arn'])\n")
        p = subprocess.run([sys.executable, "-c", code, moto.url], env=krtest.clean_env(env),
                           capture_output=True, text=True, timeout=60, cwd="/")
        tap.is_(p.stdout.strip() if p.returncode == 0 else p.stderr.strip()[-300:],
                krtest.session_arn("on-webid", "kr-test"), "boto3 sees the role chained on it")

    with tap.test("single flight: 8 clients at once, one AssumeRoleWithWebIdentity"):
        krtest.run_client(["forget", "on-wi"], env=env)  # every hop of its chain
        n = len(webid_calls())
        res = krtest.start_many([[krtest.keyrole(), "get", "on-wi"]] * 8, env=env)
        tap.ok(all(r.rc == 0 for r in res), "8 concurrent gets of the chained role succeed",
               [r.stderr for r in res if r.rc != 0][:1])
        tap.is_(len(webid_calls()) - n, 1, "one call for all of them")

    with tap.test("a rotated token file is read at the next fetch (forget)"):
        write_token(token, "token-two")
        p = krtest.run_client(["get", "wi"], env=env)
        tap.is_(len(webid_calls()), 2, "a cached session is served as it is")
        p = krtest.run_client(["forget", "wi"], env=env)
        tap.is_(p.returncode, 0, "forget wi", p.stderr)
        p = krtest.run_client(["get", "wi"], env=env)
        tap.is_(p.returncode, 0, "get after forget", p.stderr)
        calls = webid_calls()
        tap.ok(len(calls) == 3 and calls[-1]["token_sha"] == sha("token-two"),
               "the new call carried the new token")

    with tap.test("a rotated token file is read at the next refresh (short sessions)"):
        proxy.short_sessions(30)
        krtest.run_client(["forget", "wi"], env=env)
        p = krtest.run_client(["get", "wi"], env=env)
        tap.is_(p.returncode, 0, "a 30-second session", p.stderr)
        n = len(webid_calls())
        write_token(token, "token-three")

        def renewed():
            krtest.run_client(["get", "wi"], env=env)
            return any(c["token_sha"] == sha("token-three") for c in webid_calls()[n:])

        tap.ok(krtest.wait_until(renewed, timeout=40, interval=1.0),
               "renewed before it ran out, with the rotated token")
        proxy.short_sessions(0)
        krtest.run_client(["forget", "wi"], env=env)

    with tap.test("the caller's AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, "
                  "AWS_ROLE_SESSION_NAME"):
        e2 = dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=token, AWS_ROLE_ARN=webid,
                  AWS_ROLE_SESSION_NAME="from-env")
        p = krtest.run_client(["get", "plain"], env=e2)
        tap.is_(p.returncode, 0, "a profile without keys, the variables set", p.stderr)
        creds = json.loads(p.stdout or "{}")
        arn = sts(creds).get_caller_identity()["Arn"] if creds else None
        tap.is_(arn, krtest.session_arn("webid", "from-env"), "the variables' role and name")
        rel = dict(e2, AWS_WEB_IDENTITY_TOKEN_FILE=os.path.basename(token))
        p = krtest.run_client(["forget", "plain"], env=e2)
        p = krtest.run_client(["get", "plain"], env=rel)
        tap.ok(p.returncode != 0, "a relative path is the client's directory's ('/')",
               p.stderr)

    with tap.test("a token file that is not there: one line, no token"):
        p = krtest.run_client(["get", "missing"], env=env)
        tap.ok(p.returncode != 0 and "web identity token file" in p.stderr and
               "no-such-token" in p.stderr, "names the file", p.stderr)
        tap.is_(len(p.stderr.strip().splitlines()), 1, "one line")

    with tap.test("no token in the log"):
        log = d.log_text()
        tap.ok(all(t not in log for t in ("token-one", "token-two", "token-three")),
               "the daemon's log holds no token")
        tap.ok(d.alive(), "daemon alive")

    with tap.test("keyroled ends cleanly (no sanitizer report, exit 0 on SIGTERM)"):
        rc = d.stop(timeout=30)
        log = d.log_text()
        tap.ok(rc in (0, None) and "Sanitizer" not in log and "runtime error" not in log,
               "keyroled exits %r with nothing to report" % rc, log[-3000:])


krtest.main(main)
