"""The STS client (daemon/sts.c + http.c + sigv4) against moto_server with
signature and IAM enforcement on, driven through build/tests/tools/sts_probe.

Covers: correct keys (GetCallerIdentity, AssumeRole, GetSessionToken), a
wrong secret (SignatureDoesNotMatch), an unknown key (InvalidClientTokenId),
a role whose trust policy does not name the caller (AccessDenied), chained
AssumeRole with session credentials (X-Amz-Security-Token), role paths,
external ids and session names with special characters, session tags and
policies, and retries through the fault proxy (Throttling x2, 503, an HTML
500 and a dropped connection, each followed by success), with the number of
attempts checked both in the probe's result and at the proxy.
"""

import json
import os
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SPECIAL_SESSION = "a=b,c@d.e-f_g"  # STS allows [\w+=,.@-]
SPECIAL_EXTERNAL_ID = "x:/=+y_z.w@v-1"  # STS allows [\w+=,.@:/-]


def probe(seed, args, secret=None, akid=None, token=None, endpoint=None, timeout=90):
    """Run sts_probe -> (rc, parsed JSON or None, stdout, stderr)."""
    env = {
        "AWS_ACCESS_KEY_ID": akid or seed["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": secret or seed["secret_access_key"],
    }
    if token:
        env["AWS_SESSION_TOKEN"] = token
    argv = [krtest.tool("sts_probe"), "--endpoint", endpoint or seed["endpoint"],
            "--region", seed["region"]] + list(args)
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = None
    return p.returncode, out, p.stdout, p.stderr


GCI_XML = (b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
           b"<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/tls</Arn>"
           b"<UserId>AIDATLS</UserId><Account>123456789012</Account>"
           b"</GetCallerIdentityResult></GetCallerIdentityResponse>")


def summary(out, stderr=""):
    """Diagnostics without secrets (the probe never prints them)."""
    return "result: %s\nstderr: %s" % (json.dumps(out), stderr[-500:])


def main(tap, run):
    krtest.require_file(krtest.tool("sts_probe"), "sts_probe")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=["kr-test", SPECIAL_SESSION])
    roles = seed["roles"]
    secret = seed["secret_access_key"]

    def no_secret(rc_out_stdout_stderr, name):
        _, _, stdout, stderr = rc_out_stdout_stderr
        tap.ok(secret not in stdout and secret not in stderr
               and "secret_access_key" not in stdout and "session_token" not in stdout,
               name + ": no secret in the probe's output")

    with tap.test("GetCallerIdentity with correct keys"):
        r = probe(seed, ["--op", "caller-identity"])
        rc, out = r[0], r[1]
        tap.ok(rc == 0 and out and out["ok"], "GetCallerIdentity succeeds", summary(out, r[3]))
        tap.is_(out and out.get("arn"), seed["user_arn"], "caller ARN is the IAM user")
        tap.is_(out and out.get("account"), krtest.ACCOUNT, "account")
        tap.is_(out and out.get("attempts"), 1, "one attempt")
        no_secret(r, "GetCallerIdentity")

    with tap.test("AssumeRole with correct keys"):
        r = probe(seed, ["--role-arn", roles["prod"], "--session-name", "kr-test",
                         "--duration", "900", "--verify"])
        rc, out = r[0], r[1]
        tap.ok(rc == 0 and out and out["ok"], "AssumeRole succeeds", summary(out, r[3]))
        want = krtest.session_arn("prod", "kr-test")
        tap.is_(out and out.get("arn"), want, "AssumedRoleUser ARN")
        tap.ok(out and out.get("access_key_id", "").startswith("ASIA"), "temporary key id")
        tap.ok(out and out.get("has_secret") and out.get("has_token"), "secret and token received")
        tap.ok(out and out.get("expiration", 0) > 0, "expiration parsed")
        tap.is_(out and out.get("verified_arn"), want,
                "the new credentials work (GetCallerIdentity signed with the session token)")
        no_secret(r, "AssumeRole")

    with tap.test("wrong secret gives SignatureDoesNotMatch"):
        r = probe(seed, ["--op", "caller-identity"], secret="wrong" + secret[5:])
        rc, out = r[0], r[1]
        tap.is_(rc, 1, "probe reports failure", summary(out, r[3]))
        tap.is_(out and out.get("aws_code"), "SignatureDoesNotMatch", "aws_code")
        tap.is_(out and out.get("error"), "aws", "error kind")
        tap.is_(out and out.get("attempts"), 1, "not retried")
        r = probe(seed, ["--role-arn", roles["prod"]], secret="wrong" + secret[5:])
        tap.is_(r[1] and r[1].get("aws_code"), "SignatureDoesNotMatch",
                "AssumeRole with a wrong secret too", summary(r[1], r[3]))

    with tap.test("unknown access key gives InvalidClientTokenId"):
        r = probe(seed, ["--op", "caller-identity"], akid="AKIAUNKNOWNUNKNOWN00")
        tap.is_(r[1] and r[1].get("aws_code"), "InvalidClientTokenId", "aws_code",
                summary(r[1], r[3]))

    with tap.test("role not trusting the caller gives AccessDenied"):
        r = probe(seed, ["--role-arn", roles["denied"], "--session-name", "kr-test"])
        rc, out = r[0], r[1]
        tap.is_(rc, 1, "probe reports failure", summary(out, r[3]))
        tap.is_(out and out.get("aws_code"), "AccessDenied", "aws_code")
        tap.is_(out and out.get("http_status"), 403, "HTTP 403")
        tap.is_(out and out.get("attempts"), 1, "not retried")

    with tap.test("role path, external id and session name with special characters"):
        r = probe(seed, ["--role-arn", roles["ops"], "--session-name", SPECIAL_SESSION,
                         "--external-id", SPECIAL_EXTERNAL_ID, "--verify"])
        rc, out = r[0], r[1]
        tap.ok(rc == 0 and out and out["ok"], "AssumeRole on role/team/ops/ops succeeds",
               summary(out, r[3]))
        tap.is_(out and out.get("arn"), krtest.session_arn("ops", SPECIAL_SESSION),
                "session ARN keeps the special session name")
        tap.ok(out and out.get("verified"), "credentials verified")

    with tap.test("session tags, transitive keys, source identity and policy"):
        # No spaces: moto checks the body hash against Python's urlencode of
        # the form, which writes a space as "+" where SigV4 clients (and we)
        # send "%20". Real STS hashes the bytes sent, so spaces are fine there.
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}, separators=(",", ":"))
        r = probe(seed, ["--role-arn", roles["prod"], "--session-name", "kr-test",
                         "--tag", "Project=key_role~1", "--tag", "Cost:Center=a/b+c=d",
                         "--transitive", "Project", "--source-identity", "dev-user",
                         "--policy", policy])
        tap.ok(r[0] == 0 and r[1] and r[1]["ok"], "AssumeRole with tags and policy succeeds",
               summary(r[1], r[3]))

    with tap.test("chained AssumeRole with session credentials"):
        r = probe(seed, ["--role-arn", roles["prod"], "--role-arn", roles["prod-admin"],
                         "--session-name", "kr-test", "--verify"])
        rc, out = r[0], r[1]
        tap.ok(rc == 0 and out and out["ok"], "prod -> prod-admin succeeds", summary(out, r[3]))
        tap.is_(len(out["hops"]) if out else 0, 3, "two hops and a verification")
        tap.is_(out and out.get("arn"), krtest.session_arn("prod-admin", "kr-test"),
                "final session ARN")
        tap.is_(out and out.get("verified_arn"), krtest.session_arn("prod-admin", "kr-test"),
                "final credentials work")
        r = probe(seed, ["--role-arn", roles["ops"], "--role-arn", roles["ops-admin"],
                         "--session-name", SPECIAL_SESSION, "--external-id",
                         SPECIAL_EXTERNAL_ID])
        tap.ok(r[0] == 0 and r[1] and r[1]["ok"],
               "ops -> ops-admin (paths, special session name) succeeds", summary(r[1], r[3]))

    with tap.test("GetSessionToken with correct keys"):
        r = probe(seed, ["--op", "session-token", "--duration", "900"])
        tap.ok(r[0] == 0 and r[1] and r[1]["ok"] and r[1].get("has_token"),
               "GetSessionToken succeeds", summary(r[1], r[3]))

    proxy = run.proxy(moto.url)
    faults = [
        ("throttle", 2, "Throttling twice, then success"),
        ("503", 1, "503, then success"),
        ("500html", 1, "HTML 500 page, then success"),
        ("drop", 1, "dropped connection, then success"),
    ]
    for kind, n, name in faults:
        with tap.test(name):
            proxy.reset_counts()
            proxy.fail_next(n, kind)
            r = probe(seed, ["--role-arn", roles["prod"], "--session-name", "kr-test"],
                      endpoint=proxy.url)
            rc, out = r[0], r[1]
            tap.ok(rc == 0 and out and out["ok"], name + ": success", summary(out, r[3]))
            tap.is_(out and out.get("attempts"), n + 1, name + ": attempts in the result")
            tap.is_(proxy.count("AssumeRole"), n + 1, name + ": requests seen by the proxy")
            proxy.clear_faults()

    with tap.test("AccessDenied through the proxy is not retried"):
        proxy.reset_counts()
        r = probe(seed, ["--role-arn", roles["denied"]], endpoint=proxy.url)
        tap.is_(r[1] and r[1].get("aws_code"), "AccessDenied", "aws_code", summary(r[1], r[3]))
        tap.is_(proxy.count("AssumeRole"), 1, "exactly one request")

    with tap.test("unreachable endpoint: network error after every retry"):
        port = krtest.free_port()
        r = probe(seed, ["--op", "caller-identity"], endpoint="http://127.0.0.1:%d" % port)
        tap.is_(r[1] and r[1].get("error"), "network", "error kind", summary(r[1], r[3]))
        tap.is_(r[1] and r[1].get("attempts"), 5, "1 + KR_STS_RETRIES attempts")

    with tap.test("oversized response is refused, not retried"):
        big = run.adopt(krtest.CannedServer(b"<x>" + b"A" * (300 * 1024) + b"</x>"))
        r = probe(seed, ["--op", "caller-identity"], endpoint=big.url)
        tap.is_(r[1] and r[1].get("error"), "toobig", "error kind", summary(r[1], r[3]))
        tap.is_(big.hits, 1, "one request")

    with tap.test("TLS: verification on, CA bundle honoured"):
        cert, key = krtest.make_cert(run)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls = run.adopt(krtest.CannedServer(GCI_XML, tls_ctx=ctx))
        r = probe(seed, ["--op", "caller-identity"], endpoint=tls.url)
        tap.is_(r[1] and r[1].get("error"), "tls",
                "self-signed certificate refused without a CA bundle", summary(r[1], r[3]))
        tap.is_(r[1] and r[1].get("attempts"), 1, "a certificate error is not retried")
        r = probe(seed, ["--op", "caller-identity", "--ca-bundle", cert], endpoint=tls.url)
        tap.ok(r[0] == 0 and r[1] and r[1].get("arn") == "arn:aws:iam::123456789012:user/tls",
               "accepted with --ca-bundle (AWS_CA_BUNDLE)", summary(r[1], r[3]))


krtest.main(main)
