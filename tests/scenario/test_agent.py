"""keyroled against a signature-checking STS (moto behind a counting,
fault-injecting proxy): single flight under a herd, cache hits with zero
STS calls, a slow STS call that delays nobody else, errors handed to every
waiter, and one MFA code for two roles."""

import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"


def setup(run, extra_config=""):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    proxy = run.proxy(moto.url)
    home = run.home()
    cfg, creds = krtest.chain_config(seed)
    krtest.write_aws_config(home, cfg + "\n" + extra_config, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, proxy.url)
    return moto, seed, proxy, home, d, env


def get(d, env, profile, **kw):
    req = {"v": 1, "op": "get", "profile": profile, "env": env}
    req.update(kw)
    return d.request(req, timeout=60)


def main(tap, run):
    moto, seed, proxy, home, d, env = setup(run)
    herd_env = dict(env, KEYROLE_NO_AUTOSTART="1")

    with tap.test("200 clients at once on a cold two-hop chain make exactly 2 STS calls"):
        proxy.reset_counts()
        proxy.delay(0.3)  # keep the first call in flight while the herd arrives
        cmds = [[krtest.keyrole(), "get", "prod-admin"] for _ in range(200)]
        res = krtest.start_many(cmds, env=herd_env, timeout=90)
        proxy.delay(0)
        fails = [r for r in res if r.rc != 0]
        tap.is_(len(fails), 0, "every client succeeds",
                fails[0].stderr if fails else None)
        keys = set()
        for r in res:
            try:
                keys.add(json.loads(r.stdout)["AccessKeyId"])
            except (ValueError, KeyError):
                keys.add(None)
        tap.is_(len(keys), 1, "all 200 got the same credentials")
        c = proxy.counts()
        tap.is_(c.get("AssumeRole", 0), 2, "exactly 2 AssumeRole calls reached STS", json.dumps(c))

    with tap.test("a cached profile is answered with zero STS calls"):
        proxy.reset_counts()
        for _ in range(20):
            r = get(d, env, "prod-admin")
            tap.ok(r.get("ok") is True, "cached get ok") if not r.get("ok") else None
        tap.is_(proxy.counts().get("total", 0), 0, "no STS call for 20 cached gets")
        r = get(d, env, "prod-admin")
        tap.is_(r.get("from"), "memory", "reply says it came from memory")
        st = d.request({"v": 1, "op": "status"})
        tap.ok(st["counters"]["hits"] >= 20, "status counts the hits", json.dumps(st["counters"]))

    with tap.test("the chained role's second hop shares the first hop's entry"):
        proxy.reset_counts()
        r = get(d, env, "prod")
        tap.ok(r.get("ok"), "prod answered", json.dumps({k: r.get(k) for k in ("error", "message")}))
        tap.is_(proxy.counts().get("total", 0), 0, "prod comes from the prod-admin chain's cache")

    with tap.test("a slow STS call for one profile delays no other answer"):
        proxy.reset_counts()
        proxy.delay(2.0, match=seed["roles"]["ops"].split("/")[-1])
        result = {}

        def slow():
            result["r"] = get(d, env, "ops")

        t = threading.Thread(target=slow)
        t.start()
        proxy.wait_for(1, timeout=5)
        t0 = time.monotonic()
        r = get(d, env, "prod-admin")
        ms = (time.monotonic() - t0) * 1000
        tap.ok(r.get("ok") and ms < 100, "cached answer in %.1f ms while STS is slow" % ms)
        t.join(30)
        proxy.delay(0)
        tap.ok(result.get("r", {}).get("ok"), "the slow profile is answered too")

    with tap.test("errors reach every waiter with the AWS code, profile and role"):
        proxy.reset_counts()
        out = []

        def denied():
            out.append(get(d, env, "denied"))

        ts = [threading.Thread(target=denied) for _ in range(10)]
        proxy.delay(0.3)
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        proxy.delay(0)
        tap.is_(len(out), 10, "all waiters answered")
        tap.ok(all(r.get("error") == "aws" and r.get("aws_code") == "AccessDenied" for r in out),
               "each gets AccessDenied", json.dumps(out[0]))
        tap.ok(all(r.get("profile") == "denied" and "denied" in (r.get("role") or "")
                   for r in out), "each names the profile and the role")
        tap.ok("trust policy" in out[0].get("message", ""), "message says what to fix",
               out[0].get("message"))
        tap.is_(proxy.counts().get("AssumeRole", 0), 1, "one STS call for all of them")

    with tap.test("wrong secret surfaces SignatureDoesNotMatch"):
        d.request({"v": 1, "op": "forget", "all": True})
        h2 = run.home("bad")
        cfg, creds = krtest.chain_config(seed)
        creds = creds.replace(seed["secret_access_key"], "X" * 40)
        krtest.write_aws_config(h2, cfg, creds)
        r = get(d, krtest.aws_env(h2, d.socket, proxy.url), "prod")
        tap.is_(r.get("aws_code"), "SignatureDoesNotMatch", "AWS code passed on",
                r.get("message"))

    with tap.test("missing profile gives noprofile"):
        r = get(d, env, "no-such-profile")
        tap.is_(r.get("error"), "noprofile", "error noprofile", json.dumps(r))

    with tap.test("forget drops a profile's entries"):
        get(d, env, "prod-admin")
        r = d.request({"v": 1, "op": "forget", "profile": "prod-admin"})
        tap.ok(r.get("ok") and r.get("removed", 0) >= 1, "forget removed entries", json.dumps(r))
        proxy.reset_counts()
        r = get(d, env, "prod-admin")
        tap.ok(r.get("ok"), "fetched again")
        tap.ok(proxy.counts().get("AssumeRole", 0) >= 1, "forgotten entry fetched from STS")
        r = d.request({"v": 1, "op": "forget", "all": True})
        tap.ok(r.get("ok"), "forget all")
        st = d.request({"v": 1, "op": "status"})
        tap.is_(len(st.get("entries", [])), 0, "no entries left after forget all")

    with tap.test("status carries no secrets"):
        get(d, env, "prod-admin")
        st = json.dumps(d.request({"v": 1, "op": "status"}))
        tap.ok(seed["secret_access_key"] not in st and "SecretAccessKey" not in st
               and "SessionToken" not in st, "status has no secret or token")
        tap.ok(seed["secret_access_key"] not in d.log_text(), "log has no secret")

    with tap.test("one MFA code serves two roles that share the serial"):
        # moto's GetSessionToken returns fixed example keys, unknown to its IAM:
        # this part runs with enforcement off.
        moto.disable_auth()
        mfa_cfg = ("[profile mfa-a]\nrole_arn = %s\nsource_profile = dev\nmfa_serial = %s\n"
                   "role_session_name = %s\n\n[profile mfa-b]\nrole_arn = %s\n"
                   "source_profile = dev\nmfa_serial = %s\nrole_session_name = %s\n"
                   % (seed["roles"]["prod"], seed["mfa_serial"], SESSION,
                      seed["roles"]["ops"], seed["mfa_serial"], SESSION))
        cfg, creds = krtest.chain_config(seed)
        krtest.write_aws_config(home, cfg + "\n" + mfa_cfg, creds)
        proxy.reset_counts()
        r = get(d, env, "mfa-a")
        tap.is_(r.get("error"), "mfa", "first get asks for a code", json.dumps(r))
        tap.is_(r.get("mfa_serial"), seed["mfa_serial"], "names the MFA device")
        r = get(d, env, "mfa-a", mfa_code="12345")
        tap.ok(r.get("error") == "inval" and "exactly 6 digits" in r.get("message", ""),
               "a 5-digit code is refused before STS", json.dumps(r))
        tap.is_(proxy.counts().get("GetSessionToken", 0), 0, "no GetSessionToken for it")
        r = get(d, env, "mfa-a", mfa_code="123456")
        tap.ok(r.get("ok"), "code accepted", json.dumps({k: r.get(k) for k in ("error", "message")}))
        r = get(d, env, "mfa-b")
        tap.ok(r.get("ok"), "second role needs no new code",
               json.dumps({k: r.get(k) for k in ("error", "message")}))
        c = proxy.counts()
        tap.is_(c.get("GetSessionToken", 0), 1, "one GetSessionToken for both", json.dumps(c))
        moto.enable_auth()

    with tap.test("concurrent requests needing the same code make one prompt"):
        d.request({"v": 1, "op": "forget", "all": True})
        moto.disable_auth()
        r1 = get(d, env, "mfa-a")
        tap.is_(r1.get("error"), "mfa", "first asks for the code")
        waiting = {}

        def second():
            waiting["r"] = get(d, env, "mfa-b")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        tap.ok(t.is_alive(), "second request waits for the first prompt instead of prompting")
        r = get(d, env, "mfa-a", mfa_code="654321")
        t.join(30)
        tap.ok(r.get("ok") and waiting.get("r", {}).get("ok"), "both answered from one code")
        moto.enable_auth()

    tap.ok(d.alive(), "daemon survived everything")

    with tap.test("each STS call is logged with profile, role, result and latency"):
        log = d.log_text()
        tap.ok(re.search(r"profile prod-admin: AssumeRole %s: ok after \d+ ms, 1 attempt"
                         % re.escape(seed["roles"]["prod-admin"]), log),
               "a successful AssumeRole line", log[-400:])
        tap.ok(re.search(r"profile denied: AssumeRole \S+/denied: AccessDenied after \d+ ms",
                         log), "a refused one, with the AWS code", log[-400:])

    with tap.test("SIGTERM lets a request in flight finish, then exits"):
        d.request({"v": 1, "op": "forget", "all": True})
        proxy.reset_counts()
        proxy.delay(1.5)
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", get(d, env, "prod")))
        t.start()
        proxy.wait_for(1, timeout=5)
        d.proc.send_signal(signal.SIGTERM)
        t.join(30)
        proxy.delay(0)
        tap.ok(out.get("r", {}).get("ok"), "the request in flight got its credentials",
               json.dumps({k: out.get("r", {}).get(k) for k in ("error", "message")}))
        tap.ok(krtest.wait_until(lambda: d.proc.poll() is not None, 5), "then the daemon exits")
        tap.is_(d.proc.returncode, 0, "with status 0")
        tap.ok("SIGTERM: stopping" in d.log_text(), "and says why")


krtest.main(main)
