"""On a terminal, keyrole says what it waits for after a second: the STS
call (the operation, the role, the profile, the endpoint and where it came
from) or an MFA code another keyrole is asking for; the line is erased when
the answer comes. It goes to /dev/tty, since the AWS CLI captures a
credential_process's stderr; without a terminal nothing is printed."""

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"
DELAY_S = 3


class Pty:
    """keyrole ARGS on a pseudo-terminal of its own, stdout and stderr to files."""

    def __init__(self, run, args, env, name):
        self.out, self.err = run.path(name + ".out"), run.path(name + ".err")
        script = '"$0" "$@" > "%s" 2> "%s"' % (self.out, self.err)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve("/bin/sh", ["sh", "-c", script, krtest.keyrole()] + list(args),
                          krtest.clean_env(env))
            finally:
                os._exit(127)
        # Wide enough for the whole line (a fresh pty has no size: keyrole cuts at 80).
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        self.seen = b""
        self.rc = None

    def read(self, until=None, timeout=10):
        """Read what the terminal shows until `until` appears (or the end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until.encode() in self.seen:
                return True
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    return until is None
                self.seen += chunk
        return until is not None and until.encode() in self.seen

    def type(self, text):
        os.write(self.fd, text.encode() + b"\n")

    def wait(self, timeout=30):
        self.read(None, timeout)
        for _ in range(int(timeout * 20)):
            wpid, status = os.waitpid(self.pid, os.WNOHANG)
            if wpid:
                self.rc = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
        return self.rc

    def text(self):
        return self.seen.decode("utf-8", "replace")

    def stdout(self):
        with open(self.out) as f:
            return f.read()

    def stderr(self):
        with open(self.err) as f:
            return f.read()


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    proxy = run.proxy(moto.url)
    home = run.home()
    cfg, creds = krtest.chain_config(seed, process_profiles=False)
    cfg += krtest.mfa_profiles_config(seed, SESSION)
    krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, proxy.url, {"KEYROLE_NO_AUTOSTART": "1"})

    with tap.test("a slow STS on a terminal: the wait line names the call, then goes"):
        proxy.delay(DELAY_S)
        try:
            t = Pty(run, ["get", "prod"], env, "slow")
            rc = t.wait(30)
        finally:
            proxy.delay(0)
        shown = t.text()
        want = ("keyrole: waiting for AssumeRole %s (profile prod) at %s (AWS_ENDPOINT_URL_STS)"
                % (seed["roles"]["prod"], proxy.url))
        tap.is_(rc, 0, "exit 0", t.stderr())
        tap.ok(want in shown.replace("\r\n", ""), "what is awaited, on the terminal", shown)
        tap.ok(" s so far" in shown, "with the time so far", shown)
        tap.ok(shown.rstrip("\n").endswith("\r\x1b[K"), "erased when the answer came",
               repr(shown[-40:]))
        tap.is_(t.stderr(), "", "nothing on stderr")
        tap.is_(json.loads(t.stdout() or "{}").get("Version"), 1, "the JSON alone on stdout")

    with tap.test("no terminal: nothing but the JSON, however long the wait"):
        d.request({"v": 1, "op": "forget", "all": True})
        proxy.delay(DELAY_S)
        try:
            p = subprocess.run([krtest.keyrole(), "get", "prod"], env=krtest.clean_env(env),
                               capture_output=True, text=True, stdin=subprocess.DEVNULL,
                               start_new_session=True, timeout=60)
        finally:
            proxy.delay(0)
        tap.is_((p.returncode, p.stderr), (0, ""), "exit 0, stderr empty")
        tap.ok(p.stdout.startswith('{\n  "Version": 1,') and "waiting" not in p.stdout,
               "stdout is the credential_process JSON", p.stdout[:40])

    with tap.test("a narrow terminal: the line is cut to one row"):
        d.request({"v": 1, "op": "forget", "all": True})
        proxy.delay(2)
        try:
            t = Pty(run, ["get", "prod"], env, "narrow")
            fcntl.ioctl(t.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 60, 0, 0))
            rc = t.wait(30)
        finally:
            proxy.delay(0)
        rows = [r for r in t.text().split("\r\x1b[K") if r]
        tap.ok(rc == 0 and rows and all(len(r) <= 59 for r in rows),
               "at most 59 columns", rows)

    with tap.test("a fast answer shows no wait line"):
        t = Pty(run, ["get", "prod"], env, "fast")
        rc = t.wait(30)
        tap.ok(rc == 0 and "waiting" not in t.text(), "cached: nothing on the terminal",
               t.text())

    with tap.test("another keyrole asking for the MFA code: the wait line says so"):
        # moto's GetSessionToken gives keys its IAM does not know: enforcement off.
        moto.disable_auth()
        a = Pty(run, ["get", "mfa-a"], env, "mfa-a")
        tap.ok(a.read("MFA code", 15), "the first keyrole prompts", a.text())
        b = Pty(run, ["get", "mfa-b"], env, "mfa-b")
        waited = b.read("an MFA code for %s" % seed["mfa_serial"], 10)
        tap.ok(waited, "the second says it waits for the code asked of another keyrole",
               b.text())
        a.type("975310")
        tap.is_((a.wait(30), b.wait(30)), (0, 0), "both get credentials once it is given",
                (a.stderr(), b.stderr()))
        tap.ok(b.text().rstrip("\n").endswith("\r\x1b[K"), "the line is erased",
               repr(b.text()[-40:]))


krtest.main(main)
