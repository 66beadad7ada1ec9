"""credential_process of another tool as the source of a chain: run without a
shell, once per need (not per request), its JSON checked against the
contract, and its failures reported in one clear line."""

import json
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"


def script(run, name, body):
    p = run.path(name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(p, stat.S_IRWXU)
    return p


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    proxy = run.proxy(moto.url)
    home = run.home()
    count = run.path("runs")
    keys = run.path("keys.json")
    with open(keys, "w") as f:
        json.dump({"Version": 1, "AccessKeyId": seed["access_key_id"],
                   "SecretAccessKey": seed["secret_access_key"]}, f)
    good = script(run, "good-helper", 'echo run >> "$1"\ncat "$2"\n')
    failing = script(run, "failing-helper", 'echo "warning: cache is old" >&2\n'
                     'echo "token expired, run sso login" >&2\nexit 3\n')
    whose = script(run, "env-helper", 'echo "KR_MARK=${KR_MARK:-unset}" >&2\nexit 1\n')
    chatty = script(run, "chatty-helper",
                    'for i in $(seq 40); do echo "warning: $i: deprecated option, still '
                    'working as asked" >&2; done\ncat "$1"\n')
    garbage = script(run, "garbage-helper", 'echo "{not json"\n')
    nover = script(run, "noversion-helper",
                   'echo \'{"AccessKeyId":"AKIAXXXXXXXXXXXXXXXX","SecretAccessKey":"x"}\'\n')
    r = seed["roles"]
    cfg = ""
    for name, cmd in (("src", "%s %s %s" % (good, count, keys)), ("bad", failing),
                      ("chatty", "%s %s" % (chatty, keys)), ("whose", whose),
                      ("whose-set", "env KR_MARK=from-the-command-line %s" % whose),
                      ("junk", garbage), ("nov", nover),
                      ("missing", "no-such-helper-xyz --profile x")):
        cfg += "[profile %s]\ncredential_process = %s\n\n" % (name, cmd)
    for name, src in (("p-prod", "src"), ("p-bad", "bad"), ("p-junk", "junk"),
                      ("p-nov", "nov")):
        cfg += ("[profile %s]\nrole_arn = %s\nsource_profile = %s\nrole_session_name = %s\n\n"
                % (name, r["prod"], src, SESSION))
    cfg += ("[profile p-admin]\nrole_arn = %s\nsource_profile = p-prod\n"
            "role_session_name = %s\n" % (r["prod-admin"], SESSION))
    krtest.write_aws_config(home, cfg, "")
    d = run.daemon(home, env={"KR_MARK": "the-daemon's"})
    env = krtest.aws_env(home, d.socket, proxy.url, {"KEYROLE_NO_AUTOSTART": "1"})

    def runs():
        try:
            return len(open(count).read().split())
        except OSError:
            return 0

    with tap.test("a chain whose source is another tool's credential_process"):
        p = krtest.run_client(["get", "p-admin"], env=env)
        tap.is_(p.returncode, 0, "two hops from a credential_process source", p.stderr)
        tap.is_(runs(), 1, "the helper ran once")
        p = krtest.run_client(["get", "p-prod"], env=env)
        tap.is_(p.returncode, 0, "the first hop's profile", p.stderr)
        p = krtest.run_client(["get", "p-admin"], env=env)
        tap.is_(runs(), 1, "cached hops need no new run of the helper")
        p = krtest.run_client(["get", "src"], env=env)
        tap.is_(p.returncode, 0, "the source profile itself", p.stderr)
        doc = json.loads(p.stdout or "{}")
        tap.ok(doc.get("AccessKeyId") == seed["access_key_id"] and "Expiration" not in doc,
               "long-term keys passed through without an Expiration")

    with tap.test("a failing helper: its exit status and last stderr line"):
        p = krtest.run_client(["get", "p-bad"], env=env)
        tap.ok(p.returncode != 0 and p.stdout == "", "fails, nothing on stdout", p.stderr)
        tap.ok("failing-helper" in p.stderr and "status 3" in p.stderr and
               "sso login" in p.stderr and "cache is old" not in p.stderr,
               "names the helper, its status and its last message", p.stderr)
        tap.is_(len(p.stderr.strip().splitlines()), 1, "one line")

    with tap.test("a helper that prints 40 warning lines on stderr still works"):
        p = krtest.run_client(["get", "chatty"], env=env)
        tap.is_(p.returncode, 0, "not killed for talking", p.stderr)
        tap.ok(json.loads(p.stdout or "{}").get("AccessKeyId") == seed["access_key_id"],
               "its credentials come through")

    with tap.test("a helper runs with the daemon's environment, never the caller's"):
        # Its output is cached under its command line alone: no caller's
        # environment may decide what another caller is served.
        p = krtest.run_client(["get", "whose"], env=dict(env, KR_MARK="the-caller's"))
        tap.ok("KR_MARK=the-daemon's" in p.stderr, "the daemon's variable, not the caller's",
               p.stderr)
        p = krtest.run_client(["get", "whose-set"], env=env)
        tap.ok("KR_MARK=from-the-command-line" in p.stderr,
               "what it needs goes on its command line, with env(1)", p.stderr)

    with tap.test("a helper whose program is missing: 'not found', naming it"):
        p = krtest.run_client(["get", "missing"], env=env)
        tap.ok(p.returncode == 1 and p.stdout == "", "exit 1, nothing on stdout",
               (p.returncode, p.stderr))
        tap.ok("'no-such-helper-xyz' not found" in p.stderr and "external process" not in
               p.stderr, "names the program, says not found", p.stderr)

    with tap.test("output that breaks the contract is refused"):
        p = krtest.run_client(["get", "p-junk"], env=env)
        tap.ok(p.returncode != 0 and "not a JSON object" in p.stderr, "garbage output",
               p.stderr)
        p = krtest.run_client(["get", "p-nov"], env=env)
        tap.ok(p.returncode != 0 and "Version" in p.stderr, "missing Version", p.stderr)

    with tap.test("no secret in the log"):
        tap.ok(seed["secret_access_key"] not in d.log_text(), "log has no secret")
        tap.ok(d.alive(), "daemon alive")


krtest.main(main)
