"""MFA through a real terminal (tmux): keyrole prompts on the terminal, the
code is accepted, and a later `keyrole get` with no terminal at all is
served from the cached MFA session."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"


def main(tap, run):
    tmux = shutil.which("tmux")
    if not tmux:
        raise krtest.Skip("tmux not installed (make deps installs it)")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    # moto's GetSessionToken returns fixed example keys that its own IAM does
    # not know: the MFA part runs with enforcement off.
    moto.disable_auth()
    home = run.home()
    cfg, creds = krtest.chain_config(seed, process_profiles=False)
    cfg += krtest.mfa_profiles_config(seed, SESSION)
    krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})
    out = run.path("tty-out.json")
    tsock = run.path("tmux.sock")
    cmd = " ".join(["env", "-i"] + ["%s=%s" % kv for kv in krtest.clean_env(env).items()]
                   + [krtest.keyrole(), "get", "mfa-a", ">", out, ";", "sleep", "30"])

    def pane():
        return subprocess.run([tmux, "-S", tsock, "capture-pane", "-p", "-t", "kr"],
                              capture_output=True, text=True).stdout

    subprocess.run([tmux, "-S", tsock, "-f", "/dev/null", "new-session", "-d", "-s", "kr",
                    "-x", "160", "-y", "20", cmd], check=True, env=krtest.clean_env())
    pid = subprocess.run([tmux, "-S", tsock, "display", "-p", "#{pid}"], capture_output=True,
                         text=True).stdout.strip()

    def stop_tmux():
        if pid.isdigit():
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass

    run.add_cleanup(stop_tmux)
    with tap.test("the prompt appears on the terminal"):
        shown = krtest.wait_until(lambda: "MFA" in pane(), timeout=10)
        tap.ok(shown, "prompt shown", pane())
        tap.ok(seed["mfa_serial"] in pane().replace("\n", ""), "prompt names the MFA device")
    with tap.test("the code is accepted"):
        subprocess.run([tmux, "-S", tsock, "send-keys", "-t", "kr", "975310", "Enter"],
                       check=True)
        done = krtest.wait_until(lambda: os.path.exists(out) and os.path.getsize(out) > 0, 15)
        tap.ok(done, "keyrole printed credentials", pane())
        data = json.loads(open(out).read() or "{}")
        tap.is_(data.get("Version"), 1, "credential_process JSON on stdout")
        tap.ok("975310" not in pane(), "the code was not echoed", pane())
    with tap.test("a second get without a terminal uses the cached MFA session"):
        p = subprocess.run([krtest.keyrole(), "get", "mfa-b"], env=krtest.clean_env(env),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True, timeout=30)
        tap.is_(p.returncode, 0, "keyrole get mfa-b succeeds with no terminal", p.stderr)
        tap.ok(json.loads(p.stdout or "{}").get("AccessKeyId"), "credentials printed")
    with tap.test("without a terminal or a cached session it says how to enter the code"):
        d.request({"v": 1, "op": "forget", "all": True})
        p = subprocess.run([krtest.keyrole(), "get", "mfa-b"], env=krtest.clean_env(env),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True, timeout=30)
        tap.is_(p.returncode, 6, "exit 6", p.stderr)
        tap.is_(p.stdout, "", "nothing on stdout")
        tap.ok("keyrole get mfa-b" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
               "one line telling how to enter the code once", p.stderr)
    stop_tmux()


krtest.main(main)
