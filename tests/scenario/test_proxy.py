"""The caller's proxy variables travel with the request and decide, with
libcurl's rules, whether that request's STS call goes through a proxy: a
forward proxy of our own (tests/lib/forward_proxy.py) in front of moto
counts what passes. http:// endpoints use http_proxy (never HTTP_PROXY,
which libcurl ignores) or ALL_PROXY; https:// ones HTTPS_PROXY (a CONNECT
tunnel); NO_PROXY exempts hosts. A caller without any of them gets the
daemon's own environment; a caller with any of them gets only its own.
Proxies do not change credentials: they are not part of the cache key."""

import json
import os
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
from forward_proxy import ForwardProxy  # noqa: E402

CASES = [
    # (profile, the caller's proxy variables, through the proxy?, what)
    ("p1", {"http_proxy": "FP"}, True, "http_proxy for an http:// endpoint"),
    ("p2", {"HTTP_PROXY": "FP"}, False, "HTTP_PROXY alone is ignored, as libcurl does"),
    ("p3", {"HTTPS_PROXY": "FP"}, False, "HTTPS_PROXY is not for an http:// endpoint"),
    ("p4", {"ALL_PROXY": "FP"}, True, "ALL_PROXY"),
    ("p5", {"http_proxy": "FP", "NO_PROXY": "127.0.0.1"}, False, "NO_PROXY covers 127.0.0.1"),
    ("p6", {"ALL_PROXY": "FP", "no_proxy": "example.com,127.0.0.1"}, False,
     "no_proxy with a list"),
]
DAEMON_CASES = [
    ("q1", {}, True, "no proxy variable in the caller: the daemon's own http_proxy"),
    ("q2", {"no_proxy": "127.0.0.1"}, False, "the caller's NO_PROXY replaces the daemon's set"),
    ("q3", {"HTTP_PROXY": "FP"}, False, "the caller's set, even one libcurl ignores, replaces it"),
]


def assume_role_xml():
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    return ("<AssumeRoleResponse><AssumeRoleResult><Credentials>"
            "<AccessKeyId>ASIATLSPROXY0001</AccessKeyId><SecretAccessKey>tls-secret"
            "</SecretAccessKey><SessionToken>tls-token</SessionToken><Expiration>%s"
            "</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:"
            "assumed-role/prod/x</Arn></AssumedRoleUser></AssumeRoleResult>"
            "</AssumeRoleResponse>" % exp).encode()


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto)
    fp = run.adopt(ForwardProxy())
    home = run.home()
    cfg = "[profile dev]\nregion = us-east-1\n\n"
    for name in [c[0] for c in CASES + DAEMON_CASES] + ["t1", "t2"]:
        cfg += ("[profile %s]\nrole_arn = %s\nsource_profile = dev\nrole_session_name = kr-%s\n\n"
                % (name, seed["roles"]["prod"], name))
    creds = "[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
        seed["access_key_id"], seed["secret_access_key"])
    krtest.write_aws_config(home, cfg, creds)
    base = {"KEYROLE_NO_AUTOSTART": "1"}

    def get(daemon, profile, proxy_env, endpoint=moto.url, extra=None):
        e = {k: fp.url if v == "FP" else v for k, v in proxy_env.items()}
        e.update(base, **(extra or {}))
        before = fp.count()
        p = krtest.run_client(["get", profile],
                              env=krtest.aws_env(home, daemon.socket, endpoint, e))
        return p, fp.count() - before

    def run_cases(daemon, cases):
        for profile, penv, via, what in cases:
            p, n = get(daemon, profile, penv)
            tap.is_(p.returncode, 0, "%s: keyrole get" % what, p.stderr)
            tap.is_(n, 1 if via else 0, "%s: %s the proxy" % (what, "through" if via
                                                               else "not through"))

    d = run.daemon(home)
    with tap.test("the caller's variables, libcurl's rules"):
        run_cases(d, CASES)
        tap.ok(all(r["method"] == "POST" and r["action"] == "AssumeRole" and
                   r["target"] == "127.0.0.1:%d" % moto.port for r in fp.requests()),
               "the proxy saw AssumeRole for moto, and nothing else", str(fp.requests()))

    with tap.test("proxies are not part of the cache key"):
        first, _ = get(d, "p1", {"http_proxy": "FP"})
        again, n = get(d, "p1", {})
        tap.is_(n, 0, "no proxy now, no STS call: a cache hit")
        tap.is_(json.loads(again.stdout or "{}").get("AccessKeyId"),
                json.loads(first.stdout or "{}").get("AccessKeyId"),
                "the same credentials as with the proxy")

    dp = run.daemon(run.home("dhome"), env={"http_proxy": fp.url})
    with tap.test("the daemon's own environment when the caller has none"):
        run_cases(dp, DAEMON_CASES)

    with tap.test("HTTPS_PROXY for an https:// endpoint: a CONNECT tunnel"):
        cert, key = krtest.make_cert(run)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls = run.adopt(krtest.CannedServer(assume_role_xml(), tls_ctx=ctx))
        tunnels = fp.count("CONNECT")
        p, _ = get(d, "t1", {"HTTPS_PROXY": "FP"}, tls.url, {"AWS_CA_BUNDLE": cert})
        tap.is_(p.returncode, 0, "keyrole get over TLS through the proxy", p.stderr)
        tap.is_(fp.count("CONNECT") - tunnels, 1, "one CONNECT to the endpoint")
        tap.is_(tls.hits, 1, "the call reached the endpoint")
        p, _ = get(d, "t2", {"HTTPS_PROXY": "FP", "NO_PROXY": "127.0.0.1"}, tls.url,
                   {"AWS_CA_BUNDLE": cert})
        tap.is_(p.returncode, 0, "keyrole get with NO_PROXY", p.stderr)
        tap.is_(fp.count("CONNECT") - tunnels, 1, "no CONNECT with NO_PROXY")
        tap.is_(tls.hits, 2, "straight to the endpoint")
    tap.ok(d.alive() and dp.alive(), "daemons alive")
    tap.ok(seed["secret_access_key"] not in d.log_text() + dp.log_text(), "no secret in the logs")


krtest.main(main)
