"""One deadline for a request, set in keyroled.conf (sts-deadline), and an
error that says what was waited for: a hanging STS ends at the deadline, not
after a minute, and the message gives the whole time, the attempts, the URL
and where that URL came from (AWS_ENDPOINT_URL_STS, the profile's
endpoint_url at file:line, a [services] block, or the default)."""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"
DEADLINE_S = 3


def closed_port():
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    proxy = run.proxy(moto.url)
    home = run.home()
    dead = "http://127.0.0.1:%d" % closed_port()
    cfg = ("[profile prod]\nrole_arn = %s\nsource_profile = dev\nrole_session_name = %s\n\n"
           "[profile via-profile]\nrole_arn = %s\nsource_profile = dev\n"
           "role_session_name = %s\nendpoint_url = %s\n\n"
           "[profile via-services]\nrole_arn = %s\nsource_profile = dev\n"
           "role_session_name = %s\nservices = broken\n\n"
           "[services broken]\nsts =\n  endpoint_url = %s\n\n"
           "[profile admin]\nrole_arn = %s\nsource_profile = prod\n"
           "role_session_name = kr-admin\n"
           % (seed["roles"]["prod"], SESSION, seed["roles"]["prod"], SESSION, dead,
              seed["roles"]["prod"], SESSION, dead, seed["roles"]["prod-admin"]))
    creds = ("[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
             % (seed["access_key_id"], seed["secret_access_key"]))
    krtest.write_aws_config(home, cfg, creds)
    config = os.path.join(home, ".aws", "config")
    conf_dir = os.path.join(home, ".config", "keyrole")
    os.makedirs(conf_dir, mode=0o700)
    with open(os.path.join(conf_dir, "keyroled.conf"), "w") as f:
        f.write("# a short deadline for the test\nsts-deadline = %d\n" % DEADLINE_S)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, proxy.url, {"KEYROLE_NO_AUTOSTART": "1"})
    env_plain = krtest.aws_env(home, d.socket, None, {"KEYROLE_NO_AUTOSTART": "1"})

    with tap.test("a hanging STS: the error comes at sts-deadline, with the time and attempts"):
        proxy.hold()
        t0 = time.monotonic()
        try:
            p = krtest.run_client(["get", "prod"], env=env, timeout=40)
        finally:
            proxy.release()
        took = time.monotonic() - t0
        tap.ok(DEADLINE_S - 0.5 <= took < DEADLINE_S + 4, "ends at the deadline of keyroled.conf",
               "%.1f s" % took)
        tap.ok(p.returncode == 7 and p.stdout == "" and len(p.stderr.splitlines()) == 1,
               "exit 7, one line", (p.returncode, p.stderr))
        want = "no answer from %s (AWS_ENDPOINT_URL_STS) after %d." % (proxy.url, DEADLINE_S)
        tap.ok(want in p.stderr, "the URL, where it came from, the whole time", p.stderr)
        tap.ok(" 1 attempt" in p.stderr and p.stderr.count("AssumeRole") == 1,
               "the attempts, and the operation said once", p.stderr)

    with tap.test("a refused endpoint from the profile's endpoint_url: named at file:line"):
        p = krtest.run_client(["get", "via-profile"], env=env_plain, timeout=40)
        tap.ok(p.returncode == 7 and p.stdout == "" and len(p.stderr.splitlines()) == 1,
               "exit 7, one line", (p.returncode, p.stderr))
        want = "no answer from %s (endpoint_url of profile via-profile, %s:" % (dead, config)
        tap.ok(want in p.stderr, "the URL and the profile's endpoint_url at its line", p.stderr)
        tap.ok("attempts" in p.stderr and "after" in p.stderr, "retried, with the total time",
               p.stderr)

    with tap.test("a refused endpoint from a [services] block: named at file:line"):
        p = krtest.run_client(["get", "via-services"], env=env_plain, timeout=40)
        want = "no answer from %s ([services broken] sts endpoint_url, %s:" % (dead, config)
        tap.ok(p.returncode == 7 and want in p.stderr, "the block and its line",
               (p.returncode, p.stderr))

    with tap.test("a refused AWS_ENDPOINT_URL: the variable is named"):
        p = krtest.run_client(["get", "prod"], env=dict(env_plain, AWS_ENDPOINT_URL=dead),
                              timeout=40)
        tap.ok(p.returncode == 7 and "no answer from %s (AWS_ENDPOINT_URL)" % dead in p.stderr,
               "AWS_ENDPOINT_URL", (p.returncode, p.stderr))

    with tap.test("one deadline for the whole request, not one per hop of its chain"):
        # admin is prod-admin chained on prod: the first hop answers after
        # 2.5 s, the second never. One deadline ends the request at 3 s; one
        # per call would end it at 5.5 s.
        run_client_forget = krtest.run_client(["forget", "--all"], env=env, timeout=20)
        tap.is_(run_client_forget.returncode, 0, "forget --all", run_client_forget.stderr)
        proxy.delay(2.5, match="RoleSessionName=%s" % SESSION)
        proxy.hold(match="RoleSessionName=kr-admin")
        t0 = time.monotonic()
        try:
            p = krtest.run_client(["get", "admin"], env=env, timeout=40)
        finally:
            proxy.release()
            proxy.clear_delays()
        took = time.monotonic() - t0
        tap.ok(p.returncode == 7 and len(p.stderr.splitlines()) == 1, "exit 7, one line",
               (p.returncode, p.stderr))
        tap.ok(DEADLINE_S - 0.5 <= took < DEADLINE_S + 1.6,
               "ends at the request's deadline, not a deadline per hop", "%.1f s" % took)
        tap.ok(seed["roles"]["prod-admin"] in p.stderr, "names the hop that was waited for",
               p.stderr)

    with tap.test("STS answering again: the same profile works"):
        p = krtest.run_client(["get", "prod"], env=env, timeout=40)
        tap.is_(p.returncode, 0, "exit 0", p.stderr)

    with tap.test("sts-deadline out of range is refused at start"):
        p = subprocess.run([os.path.join(krtest.build_dir(), "keyroled"), "--sts-deadline",
                            "0", "--socket", run.path("x.sock")], capture_output=True,
                           text=True, timeout=10, env=krtest.clean_env({"HOME": home}))
        tap.ok(p.returncode == 2 and "sts-deadline" in p.stderr, "exit 2 naming the setting",
               (p.returncode, p.stderr))


krtest.main(main)
