"""`keyrole check` through the real client and daemon catches each trap of
issue 4 with file:line and a fix, and exits non-zero on errors."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def main(tap, run):
    home = run.home()
    src = os.path.join(krtest.repo_root(), "tests", "data", "check", "traps.config")
    with open(src) as f:
        krtest.write_aws_config(home, f.read(),
                                "[keyed]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                                "aws_secret_access_key = not-a-real-secret\n")
    cfg = os.path.join(home, ".aws", "config")
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, None, {"KEYROLE_NO_AUTOSTART": "1"})
    p = krtest.run_client(["check"], env=env)
    tap.is_(p.returncode, 1, "exit 1 when a profile has an error", p.stderr)
    out = p.stdout
    cases = [
        ("role_arn and credential_process in one profile", cfg + ":7: error",
         "ignore credential_process there"),
        ("a profile that points at keyrole for itself", cfg + ":14: error", "call itself"),
        ("an unknown key with the nearest known key", cfg + ":18: warning",
         'did you mean "source_profile"'),
        ("a cycle, listing the visited profiles", "error: source_profile loop",
         "cyc-a -> cyc-b -> cyc-a"),
        ("a missing source profile", cfg + ":30: error", '"nowhere"'),
        ("an invalid duration", cfg + ":35: error", "from 900 to 43200"),
        ("a chained role's duration capped to one hour", cfg + ":40: warning",
         "at most 3600 seconds"),
    ]
    for name, where, what in cases:
        lines = [line for line in out.splitlines() if where in line]
        tap.ok(any(what in line and "(fix: " in line for line in lines),
               "%s: %s ... %s" % (name, where.replace(home, "~"), what))
    # selfcall's credential_process runs keyrole for selfcall-chain, whose
    # source is selfcall again: check and get must both say so, up front.
    p = krtest.run_client(["check", "selfcall"], env=env)
    tap.is_(p.returncode, 1, "check selfcall: exit 1", p.stdout)
    tap.ok(any(cfg + ":14: error" in line and "call itself" in line and "(fix: " in line
               for line in p.stdout.splitlines()),
           "check selfcall: the self-call through another chain, with file:line and a fix",
           p.stdout)
    p = krtest.run_client(["get", "selfcall"], env=env)
    tap.ok(p.returncode != 0 and cfg + ":14:" in p.stderr and "call itself" in p.stderr,
           "get selfcall fails with the same reason, before running anything", p.stderr)
    p = krtest.run_client(["check", "trap2"], env=env)
    tap.is_(p.returncode, 0, "a single good profile checks clean", p.stdout)
    p = krtest.run_client(["check", "keyed", "--json"], env=env)
    rep = json.loads(p.stdout or "[]")
    got = rep[0]["steps"][0].get("access_key_id", "") if rep else ""
    with open(os.path.join(krtest.repo_root(), "doc", "protocol.txt")) as f:
        doc = re.search(r'"access_key_id":"([^"]*)"', f.read()).group(1)
    tap.ok(got == "****MPLE" and re.sub(r"[A-Z0-9]", "X", got) == doc,
           "the access key id is masked as doc/protocol.txt shows it", "%r vs %r" % (got, doc))
    p = krtest.run_client(["check", "chained", "--json"], env=env)
    rep = json.loads(p.stdout or "[]")
    hops = [s for s in rep[0]["steps"] if s["kind"] == "role"] if rep else []
    tap.ok(len(hops) == 2 and hops[1]["duration"] == 3600 and hops[1]["duration_capped"],
           "--json shows the capped duration", p.stdout[:300])

    # No profile at all is an error that says why, not an empty report and exit 0.
    missing = os.path.join(home, "no-such-config")
    p = krtest.run_client(["check"], env=dict(env, AWS_CONFIG_FILE=missing))
    tap.ok(p.returncode == 1 and "%s (AWS_CONFIG_FILE) does not exist" % missing in p.stdout
           and "(fix: " in p.stdout, "AWS_CONFIG_FILE naming a missing file: said, exit 1",
           (p.returncode, p.stdout))
    empty = os.path.join(home, "empty-config")
    with open(empty, "w") as f:
        f.write("# nothing yet\n")
    p = krtest.run_client(["check", "--json"], env=dict(env, AWS_CONFIG_FILE=empty,
                                                         AWS_SHARED_CREDENTIALS_FILE=empty))
    rep = json.loads(p.stdout or "[]")
    tap.ok(p.returncode == 1 and len(rep) == 1 and not rep[0]["ok"]
           and "no profiles in " + empty in rep[0]["problems"][0]["message"],
           "a config without profiles: said, exit 1", (p.returncode, p.stdout))

    # What STS would refuse after the call: check finds it, at its line.
    sts = os.path.join(home, "sts-config")
    with open(sts, "w") as f:
        f.write("[profile keyed]\n[profile badarn]\nsource_profile = keyed\n"
                "role_arn = arn:aws:iam:123456789012:role/x\n"
                "[profile noext]\nsource_profile = keyed\n"
                "role_arn = arn:aws:iam::123456789012:role/x\nexternal_id =\n")
    p = krtest.run_client(["check"], env=dict(env, AWS_CONFIG_FILE=sts))
    tap.ok(p.returncode == 1 and "%s:4: error: role_arn" % sts in p.stdout
           and "%s:8: error: external_id" % sts in p.stdout,
           "check: a malformed role ARN and an empty external_id, each at its line", p.stdout)

    # A config file that cannot be read (ELOOP here: root reads any mode) is exit status 4.
    loop = os.path.join(home, "loop")
    os.symlink("loop", loop)
    p = krtest.run_client(["get", "keyed"], env=dict(env, AWS_CONFIG_FILE=loop))
    tap.ok(p.returncode == 4 and loop + ": " in p.stderr and "cannot read it" in p.stderr,
           "an unreadable config file: exit 4, file and reason", (p.returncode, p.stderr))


krtest.main(main)
