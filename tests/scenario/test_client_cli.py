#!/usr/bin/env python3
"""The keyrole client against a fake keyroled: output formats, exit
statuses, MFA retries, env/exec, help, and autostart.

The fake daemon is a Unix-socket server in this process that speaks the
frame protocol of doc/protocol.txt and answers from a handler the test sets,
recording every request. The same file, run as
`test_client_cli.py --serve --socket PATH --record FILE`, is the fake
keyroled that autostart starts (through a small wrapper named keyroled).
"""

import json
import os
import pty
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402

PROFILE = "prod"
# Values chosen to break naive quoting: quotes, $, backquotes, backslashes.
CREDS = {
    "AccessKeyId": "ASIAFAKEKEY000000001",
    "SecretAccessKey": "s3cr'et\"$HOME`id`\\n;x=$(id) 'q'",
    "SessionToken": "FwoGZXIvYXdzE+tok/en==",
    "Expiration": "2030-01-01T00:00:00Z",
}
SERIAL = "arn:aws:iam::123456789012:mfa/me"


# ---------------------------------------------------------------------------
# The fake daemon


def read_frame(conn, timeout=5.0):
    conn.settimeout(timeout)
    hdr = b""
    while len(hdr) < 4:
        c = conn.recv(4 - len(hdr))
        if not c:
            return None
        hdr += c
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        c = conn.recv(n - len(body))
        if not c:
            return None
        body += c
    return json.loads(body)


def write_frame(conn, obj):
    body = json.dumps(obj).encode()
    conn.sendall(struct.pack(">I", len(body)) + body)


def ok_reply(**members):
    return dict({"v": 1, "ok": True}, **members)


def err_reply(name, message, **members):
    return dict({"v": 1, "ok": False, "error": name, "message": message}, **members)


def default_handler(req):
    op = req.get("op")
    if op == "get":
        return ok_reply(**CREDS, **{"from": "sts"})
    if op == "version":
        return ok_reply(version="9.9.9", protocol=1)
    if op == "ping":
        return ok_reply()
    return err_reply("unknown_op", "unknown op")


class FakeDaemon:
    """A threaded fake keyroled on a Unix socket. handler(req) -> reply dict,
    bytes (sent raw), or None (close without a reply)."""

    def __init__(self, path, handler=default_handler):
        self.path = path
        self.handler = handler
        self.requests = []
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            try:
                req = read_frame(conn)
                if req is None:
                    return
                with self._lock:
                    self.requests.append(req)
                reply = self.handler(req)
                if reply is None:
                    return
                if isinstance(reply, bytes):
                    conn.sendall(reply)
                else:
                    write_frame(conn, reply)
            except OSError:
                pass

    def take(self):
        with self._lock:
            r, self.requests = self.requests, []
        return r

    def stop(self):
        self._stop = True
        self.sock.close()
        self.thread.join(2)
        try:
            os.unlink(self.path)
        except OSError:
            pass


def serve_main(argv):
    """Fake keyroled for the autostart test: records how it was started."""
    sock_path = argv[argv.index("--socket") + 1]
    record = argv[argv.index("--record") + 1]
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    info = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sid": os.getsid(0),
        "stdio": [os.readlink("/proc/self/fd/%d" % i) for i in range(3)],
        "fds": fds,
        "cwd": os.getcwd(),
        "aws_secret_in_env": "AWS_SECRET_ACCESS_KEY" in os.environ,
        "autostarted": os.environ.get("KEYROLE_AUTOSTARTED") == "1",
        # Python ignores SIGPIPE itself: the wrapper recorded the mask it got.
        "sigign": int(argv[argv.index("--sigign") + 1], 16),
    }
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, (json.dumps(info) + "\n").encode())
    os.close(fd)
    time.sleep(0.2)  # a slow start: clients must keep polling, not start another
    d = FakeDaemon(sock_path)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))
    deadline = time.monotonic() + 30  # bounded even if the test forgets us
    while time.monotonic() < deadline:
        time.sleep(0.1)
    d.stop()


# ---------------------------------------------------------------------------
# Running the client


def client(args, env, input=None, stdout=subprocess.PIPE, timeout=20, exe=None):
    """Run keyrole in a new session (no controlling terminal, so no MFA prompt)."""
    p = subprocess.run([exe or krtest.keyrole()] + list(args), env=krtest.clean_env(env),
                       input=input.encode() if isinstance(input, str) else input,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       stdout=stdout, stderr=subprocess.PIPE, timeout=timeout, cwd="/",
                       start_new_session=True)
    out = p.stdout.decode("utf-8", "replace") if p.stdout is not None else ""
    return p.returncode, out, p.stderr.decode("utf-8", "replace")


def client_pty(args, env, answers, timeout=10):
    """Run keyrole with a pseudo-terminal as its controlling terminal; answer
    each prompt (a (prompt_substring, reply) pair) when it appears.
    -> (rc, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(krtest.keyrole(), [krtest.keyrole()] + list(args), krtest.clean_env(env))
        finally:
            os._exit(127)
    seen, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child is gone
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0].encode() in seen:
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
    finally:
        os.close(fd)
    for _ in range(100):
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None, seen.decode("utf-8", "replace")


def one_line(err):
    return err.endswith("\n") and err.count("\n") == 1


def no_controls(text):
    """True if text has no control character but its line ends: no C0 but
    \n, no DEL, no C1 (U+0080..U+009F, which some terminals obey like ESC [)."""
    return not any((ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f for c in text)


# Daemon strings that try to forge an output line or drive the terminal:
# newline, CR, tab, ESC sequences, BEL, DEL and a C1 CSI.
HOSTILE = "Throttling\nFORGED LINE\r\tkeyrole: prod: ok\x1b[2J\x1b]0;title\x07\x7f\u009b31m"


def main(tap, run):
    krtest.require_file(krtest.keyrole(), "keyrole")
    sockdir = run.mkdir("sock")
    sock = os.path.join(sockdir, "agent.sock")
    home = run.home()
    fake = run.adopt(FakeDaemon(sock))
    base = {"HOME": home, "KEYROLE_SOCKET": sock, "KEYROLE_NO_AUTOSTART": "1"}

    def use(handler):
        fake.handler = handler
        fake.take()

    # ---- get ----
    with tap.test("get prints credential_process JSON v1"):
        use(default_handler)
        rc, out, err = client(["get", PROFILE], base)
        tap.is_(rc, 0, "get exits 0", err)
        doc = json.loads(out)
        tap.ok(doc.get("Version") == 1 and isinstance(doc.get("Version"), int),
               "Version is the number 1")
        tap.is_({k: doc.get(k) for k in CREDS}, CREDS, "keys and values come from the reply")
        tap.is_(sorted(doc), sorted(["Version"] + list(CREDS)), "no other members (from, region)")
        tap.is_(err, "", "nothing on stderr")

    with tap.test("get omits SessionToken and Expiration when the reply has none"):
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001", SecretAccessKey="x"))
        rc, out, err = client(["get", PROFILE], base)
        doc = json.loads(out)
        tap.is_(sorted(doc), ["AccessKeyId", "SecretAccessKey", "Version"],
                "only Version and the keys")

    with tap.test("get sends op, profile and only the documented environment"):
        use(default_handler)
        env = dict(base, AWS_REGION="eu-west-1", AWS_CONFIG_FILE="/x/config",
                   AWS_ENDPOINT_URL_STS="http://127.0.0.1:1", AWS_PROFILE="other",
                   AWS_SDK_LOAD_CONFIG="1", FOO="bar")
        rc, out, err = client(["get", PROFILE], env)
        reqs = fake.take()
        tap.is_(len(reqs), 1, "exactly one request")
        req = reqs[0]
        tap.is_((req.get("v"), req.get("op"), req.get("profile")), (1, "get", PROFILE),
                "v, op and profile")
        tap.is_(req.get("env"), {"HOME": home, "AWS_REGION": "eu-west-1",
                                 "AWS_CONFIG_FILE": "/x/config",
                                 "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1"},
                "env has the set documented keys only")
        tap.ok("mfa_code" not in req, "no mfa_code unless asked for")

    with tap.test("a failed refresh is reported on stderr while the credentials are served"):
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001", SecretAccessKey="x",
                               Expiration="2030-01-01T00:00:00Z",
                               refresh_error="AssumeRole arn:aws:iam::1:role/r: Throttling"))
        rc, out, err = client(["get", PROFILE], base)
        tap.is_(rc, 0, "exit 0")
        tap.ok(json.loads(out).get("AccessKeyId"), "credentials on stdout")
        tap.ok("warning" in err and "Throttling" in err and "2030-01-01T00:00:00Z" in err,
               "one warning line naming the error and the expiry", err)

    with tap.test("relative file paths are sent absolute (the daemon has another cwd)"):
        use(default_handler)
        env = dict(base, AWS_CONFIG_FILE="x/config", AWS_SHARED_CREDENTIALS_FILE="creds",
                   AWS_CA_BUNDLE="/abs/ca.pem")
        client(["get", PROFILE], env)  # runs in /
        got = fake.take()[0].get("env", {})
        tap.is_((got.get("AWS_CONFIG_FILE"), got.get("AWS_SHARED_CREDENTIALS_FILE"),
                 got.get("AWS_CA_BUNDLE")), ("/x/config", "/creds", "/abs/ca.pem"),
                "relative paths made absolute, absolute ones unchanged")

    with tap.test("get of a reply without keys fails"):
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001"))
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 1 and out == "" and one_line(err), "exit 1, one line", (rc, out, err))

    # ---- error classes ----
    classes = [("noprofile", 4), ("config", 4), ("nocreds", 4), ("unsupported", 4),
               ("aws", 5), ("network", 7), ("timeout", 7), ("tls", 7), ("internal", 1), ("keyring", 1),
               ("process", 1), ("expired", 1), ("no-such-error-name", 1)]
    for name, code in classes:
        with tap.test("error %s exits %d with one stderr line" % (name, code)):
            msg = "role arn:aws:iam::123456789012:role/prod: %s happened (fix: do X)" % name
            use(lambda r, n=name, m=msg: err_reply(n, m, profile=PROFILE))
            rc, out, err = client(["get", PROFILE], base)
            tap.is_(rc, code, "exit status for %s" % name, err)
            tap.is_(out, "", "nothing on stdout")
            tap.is_(err, "keyrole: %s: %s\n" % (PROFILE, msg), "the daemon's message, once")

    with tap.test("a multi-line daemon message stays on one stderr line"):
        use(lambda r: err_reply("aws", "first\nsecond\rthird"))
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(one_line(err) and "first second third" in err, "control characters flattened",
               err)

    # ---- MFA ----
    def mfa_handler(accept="123456", process=None, prompt=None):
        def h(req):
            code = req.get("mfa_code")
            if code is None or code != accept:
                extra = {"mfa_serial": SERIAL}
                if process:
                    extra["mfa_process"] = process
                if prompt:
                    extra["mfa_prompt"] = prompt
                return err_reply("mfa", "MFA code required for %s" % SERIAL, **extra)
            return ok_reply(**CREDS)
        return h

    with tap.test("mfa: --mfa-code is sent on the retry"):
        use(mfa_handler())
        rc, out, err = client(["get", PROFILE, "--mfa-code", "123456"], base)
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_(json.loads(out).get("AccessKeyId") if rc == 0 else None, CREDS["AccessKeyId"],
                "credentials printed")
        tap.is_([r.get("mfa_code") for r in reqs], [None, "123456"],
                "first request without a code, retry with it")
        tap.is_(reqs[1].get("profile"), PROFILE, "the retry is the same request")

    with tap.test("mfa: --mfa-code=CODE form works too"):
        use(mfa_handler())
        rc, out, err = client(["get", "--mfa-code=123456", PROFILE], base)
        tap.is_(rc, 0, "exit 0", err)

    with tap.test("mfa: mfa_process output is the code, split without a shell"):
        script = run.path("mfa.sh")
        with open(script, "w") as f:
            # Prints the code only if its arguments arrive exactly as written.
            f.write('#!/bin/sh\n[ "$1" = "arg with space" ] && [ "$2" = \'$HOME\' ] '
                    '&& printf "  777888\\n"\n')
        os.chmod(script, 0o700)
        use(mfa_handler(accept="777888", process="%s 'arg with space' '$HOME'" % script))
        rc, out, err = client(["get", PROFILE], base)
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_([r.get("mfa_code") for r in reqs], [None, "777888"], "retry with the code")

    with tap.test("mfa: a failing mfa_process gives exit 6"):
        use(mfa_handler(process="/bin/false"))
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 6 and out == "" and one_line(err) and "mfa_process" in err,
               "exit 6 naming mfa_process", (rc, err))

    with tap.test("mfa: an mfa_process whose program is missing is named as not found"):
        use(mfa_handler(process="ykman-not-installed oath accounts code -s 'AWS me'"))
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 6 and out == "" and one_line(err), "exit 6, one line", (rc, err))
        tap.ok("'ykman-not-installed' was not found" in err and "external process" not in err,
               "names the program and says not found", err)

    with tap.test("mfa: no terminal and no code gives exit 6 and says what to do"):
        use(mfa_handler())
        rc, out, err = client(["get", PROFILE], base)
        tap.is_(rc, 6, "exit 6", err)
        tap.ok(out == "" and one_line(err), "one line, nothing on stdout", err)
        tap.ok(SERIAL in err and "keyrole get %s" % PROFILE in err and "--mfa-code" in err,
               "names the device and how to enter the code once", err)
        tap.is_(len(fake.take()), 1, "no retry without a code")

    # ---- MFA without a terminal: askpass, zenity, kdialog ----
    askpass = run.path("askpass.sh")
    asked = run.path("asked.txt")
    with open(askpass, "w") as f:
        # Records its arguments (one per line), answers a code.
        f.write('#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done > "%s"\n'
                'printf "135790\\n"\n' % asked)
    os.chmod(askpass, 0o700)
    fakebin = run.mkdtemp("fakebin-")
    for prog in ("zenity", "kdialog"):
        with open(os.path.join(fakebin, prog), "w") as f:
            f.write('#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done > "%s"\n'
                    'echo %s > "%s.who"\nprintf "246802\\n"\n' % (asked, prog, asked))
        os.chmod(os.path.join(fakebin, prog), 0o700)

    def asked_args():
        try:
            with open(asked) as f:
                return f.read().splitlines()
        except OSError:
            return None

    def forget_asked():
        for p in (asked, asked + ".who"):
            if os.path.exists(p):
                os.unlink(p)

    with tap.test("mfa: no terminal, KEYROLE_ASKPASS: the askpass program gives the code"):
        forget_asked()
        use(mfa_handler(accept="135790"))
        rc, out, err = client(["get", PROFILE], dict(base, KEYROLE_ASKPASS=askpass))
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_([r.get("mfa_code") for r in reqs], [None, "135790"], "the retry carries its code")
        tap.is_(asked_args(), ["Enter MFA code for %s" % SERIAL],
                "the prompt is its one argument (SSH_ASKPASS's convention)")
        tap.is_(err, "", "nothing on stderr")

    with tap.test("mfa: mfa_prompt = an askpass program's path (keyroled's setting)"):
        forget_asked()
        use(mfa_handler(accept="135790", prompt=askpass))
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 0 and asked_args() == ["Enter MFA code for %s" % SERIAL],
               "the program the daemon named asks", (rc, err))

    with tap.test("mfa: mfa_prompt = askpass without KEYROLE_ASKPASS: exit 6 saying what to set"):
        use(mfa_handler(prompt="askpass"))
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 6 and one_line(err) and "KEYROLE_ASKPASS" in err, "names KEYROLE_ASKPASS",
               (rc, err))

    with tap.test("mfa: no terminal, a display: zenity, then kdialog, found on PATH"):
        path = fakebin + ":" + base.get("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        forget_asked()
        use(mfa_handler(accept="246802"))
        rc, out, err = client(["get", PROFILE], dict(base, PATH=path, DISPLAY=":99"))
        who = open(asked + ".who").read().strip() if os.path.exists(asked + ".who") else None
        tap.is_((rc, who), (0, "zenity"), "zenity asks", err)
        tap.is_(asked_args(), ["--entry", "--hide-text", "--title=keyrole", "--text",
                               "Enter MFA code for %s" % SERIAL], "as a hidden entry")
        os.rename(os.path.join(fakebin, "zenity"), os.path.join(fakebin, "zenity.off"))
        forget_asked()
        rc, out, err = client(["get", PROFILE], dict(base, PATH=path, WAYLAND_DISPLAY="wayland-9"))
        who = open(asked + ".who").read().strip() if os.path.exists(asked + ".who") else None
        tap.is_((rc, who), (0, "kdialog"), "without zenity (and on Wayland): kdialog", err)
        tap.is_(asked_args(), ["--title", "keyrole", "--password",
                               "Enter MFA code for %s" % SERIAL], "as a password dialog")
        os.rename(os.path.join(fakebin, "zenity.off"), os.path.join(fakebin, "zenity"))
        forget_asked()
        rc, out, err = client(["get", PROFILE], dict(base, PATH=path))
        tap.ok(rc == 6 and asked_args() is None, "no display: no dialog", (rc, err))
        use(mfa_handler(accept="246802", prompt="kdialog"))
        rc, out, err = client(["get", PROFILE], dict(base, PATH=path, DISPLAY=":99"))
        who = open(asked + ".who").read().strip() if os.path.exists(asked + ".who") else None
        tap.is_((rc, who), (0, "kdialog"), "mfa_prompt = kdialog is taken over zenity", err)

    with tap.test("mfa: no terminal and no way to ask: one line saying how to set one up"):
        use(mfa_handler())
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 6 and out == "" and one_line(err), "exit 6, one line", (rc, err))
        tap.ok("KEYROLE_ASKPASS" in err and "--mfa-code" in err and "mfa_process" in err,
               "names KEYROLE_ASKPASS, mfa_process and --mfa-code", err)
        use(mfa_handler(prompt="zenity"))
        rc, out, err = client(["get", PROFILE], dict(base, PATH="/nonexistent"))
        tap.ok(rc == 6 and one_line(err) and "'zenity' was not found" in err,
               "a dialog that is not installed is named", (rc, err))

    with tap.test("mfa: the code is asked for on the terminal, without echo"):
        use(mfa_handler(accept="424242"))
        rc, seen = client_pty(["get", PROFILE], base,
                              [("Enter MFA code for %s: " % SERIAL, "424242")])
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", seen)
        tap.is_([r.get("mfa_code") for r in reqs], [None, "424242"], "retry with the typed code")
        tap.ok("424242" not in seen, "the code was not echoed", seen)
        tap.ok(CREDS["AccessKeyId"] in seen, "credentials printed after the prompt")

    with tap.test("add asks on the terminal: id echoed, secret not"):
        use(lambda r: ok_reply())
        secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        rc, seen = client_pty(["add", "dev"], base,
                              [("access key id for dev: ", "AKIAIOSFODNN7EXAMPLE"),
                               ("secret access key for dev: ", secret)])
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", seen)
        tap.is_([(r.get("access_key_id"), r.get("secret_access_key")) for r in reqs],
                [("AKIAIOSFODNN7EXAMPLE", secret)], "both keys sent")
        tap.ok("AKIAIOSFODNN7EXAMPLE" in seen and secret not in seen,
               "the id is echoed, the secret is not", seen)

    with tap.test("mfa: a refused code gives exit 6 after one retry"):
        use(mfa_handler(accept="000000"))
        rc, out, err = client(["get", PROFILE, "--mfa-code", "123456"], base)
        tap.ok(rc == 6 and one_line(err) and len(fake.take()) == 2, "exit 6, two requests",
               (rc, err))

    with tap.test("mfa: an invalid --mfa-code is a usage error"):
        use(mfa_handler())
        rc, out, err = client(["get", PROFILE, "--mfa-code", "12 34"], base)
        tap.ok(rc == 2 and one_line(err) and not fake.take(), "exit 2, nothing sent", (rc, err))
        for code in ("12345", "1234567", "12345a"):  # STS takes exactly 6 digits
            rc, out, err = client(["get", PROFILE, "--mfa-code", code], base)
            tap.ok(rc == 2 and "exactly 6 digits" in err and not fake.take(),
                   "%s: exit 2, says 6 digits, nothing sent" % code, (rc, err))

    # ---- no daemon ----
    with tap.test("no daemon and KEYROLE_NO_AUTOSTART=1: exit 3 with a clear message"):
        nosock = run.path("sock", "none.sock")
        rc, out, err = client(["get", PROFILE], dict(base, KEYROLE_SOCKET=nosock))
        tap.is_(rc, 3, "exit 3", err)
        tap.ok(out == "" and one_line(err), "one line, nothing on stdout", err)
        tap.ok(nosock in err and "not running" in err, "names the socket", err)

    with tap.test("no daemon and --no-autostart: exit 3"):
        nosock = run.path("sock", "none.sock")
        env = dict(base, KEYROLE_SOCKET=nosock)
        del env["KEYROLE_NO_AUTOSTART"]
        rc, out, err = client(["get", PROFILE, "--no-autostart"], env)
        tap.ok(rc == 3 and one_line(err) and not os.path.exists(nosock), "exit 3, no start",
               (rc, err))

    with tap.test("a daemon that closes without answering: exit 1, one line"):
        use(lambda r: None)
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 1 and out == "" and one_line(err), "exit 1", (rc, err))

    with tap.test("a daemon that answers garbage: exit 1, one line"):
        use(lambda r: struct.pack(">I", 5) + b"nope!")
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 1 and out == "" and one_line(err), "exit 1 (not JSON)", (rc, err))
        use(lambda r: struct.pack(">I", 0xFFFFFFFF) + b"x")
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 1 and out == "" and one_line(err), "exit 1 (length over cap)", (rc, err))
        use(lambda r: {"v": 2, "ok": True})
        rc, out, err = client(["get", PROFILE], base)
        tap.ok(rc == 1 and out == "" and one_line(err), "exit 1 (other version)", (rc, err))

    with tap.test("a closed stdout is a failure (EPIPE), not silence"):
        use(default_handler)
        r, w = os.pipe()
        os.close(r)
        try:
            rc, out, err = client(["get", PROFILE], base, stdout=w)
        finally:
            os.close(w)
        tap.ok(rc == 1 and "standard output" in err, "exit 1 naming stdout", (rc, err))

    # ---- env ----
    dump = [sys.executable, "-c", "import json,os;print(json.dumps(dict(os.environ)))"]
    want_env = {
        "AWS_ACCESS_KEY_ID": CREDS["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": CREDS["SecretAccessKey"],
        "AWS_SESSION_TOKEN": CREDS["SessionToken"],
        # botocore reads the old name first: a stale one must never survive.
        "AWS_SECURITY_TOKEN": "<unset>",
        "AWS_CREDENTIAL_EXPIRATION": CREDS["Expiration"],
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_PROFILE": "<unset>",
        "AWS_DEFAULT_PROFILE": "<unset>",
    }
    names = list(want_env)
    # What an earlier `eval "$(keyrole env other)"` (or an old tool) left behind.
    STALE = {"AWS_PROFILE": "stale", "AWS_DEFAULT_PROFILE": "stale",
             "AWS_SESSION_TOKEN": "stale", "AWS_SECURITY_TOKEN": "stale",
             "AWS_CREDENTIAL_EXPIRATION": "stale", "AWS_REGION": "stale-region-1",
             "AWS_DEFAULT_REGION": "stale-region-1"}

    def eval_in(shell, text):
        script = ('eval "$KR_ENV_TEXT"; for v in %s; do eval "x=\\${$v-<unset>}"; '
                  'printf "%%s\\0" "$x"; done' % " ".join(names))
        p = subprocess.run([shell, "-c", script], capture_output=True, timeout=10,
                           env=krtest.clean_env(dict(STALE, KR_ENV_TEXT=text)))
        vals = p.stdout.decode().split("\0")[:-1]
        return dict(zip(names, vals)), p.returncode

    with tap.test("env output evaluated by sh and bash gives the same values"):
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["env", PROFILE], base)
        tap.is_(rc, 0, "exit 0", err)
        for sh in ("sh", "bash"):
            if not shutil.which(sh):
                tap.skip("eval in %s" % sh, "%s is not installed" % sh)
                continue
            got, src = eval_in(sh, out)
            tap.ok(got == want_env and src == 0, "eval in %s sets every value exactly" % sh,
                   "differs in: %s" % [k for k in names if got.get(k) != want_env[k]])

    with tap.test("env unsets a stale token, AWS_SECURITY_TOKEN and a region the reply lacks"):
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001", SecretAccessKey="abc"))
        rc, out, err = client(["env", PROFILE], base)
        got, _ = eval_in("sh", out)
        gone = ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]
        tap.is_({k: got[k] for k in gone}, {k: "<unset>" for k in gone},
                "no stale token, expiry or region survives the eval")
        tap.ok("unset AWS_SECURITY_TOKEN\n" in out and "export AWS_SECURITY_TOKEN" not in out,
               "AWS_SECURITY_TOKEN is unset, never exported", out.replace("abc", "<secret>"))

    with tap.test("env unsets AWS_SECURITY_TOKEN even when the reply has a session token"):
        use(lambda r: ok_reply(**CREDS))
        rc, out, err = client(["env", PROFILE], base)
        got, _ = eval_in("sh", out)
        tap.is_((got["AWS_SESSION_TOKEN"], got["AWS_SECURITY_TOKEN"]),
                (CREDS["SessionToken"], "<unset>"), "the new token under its name only")

    with tap.test("env --region sets AWS_REGION and AWS_DEFAULT_REGION over the profile's"):
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["env", PROFILE, "--region", "ap-south-2"], base)
        got, _ = eval_in("sh", out)
        tap.is_((rc, got["AWS_REGION"], got["AWS_DEFAULT_REGION"]), (0, "ap-south-2", "ap-south-2"),
                "the region given wins", err)
        use(lambda r: ok_reply(**CREDS))
        rc, out, err = client(["env", "--region=us-west-2", PROFILE], base)
        got, _ = eval_in("sh", out)
        tap.is_((rc, got["AWS_REGION"], got["AWS_DEFAULT_REGION"]), (0, "us-west-2", "us-west-2"),
                "and is set when the profile has none", err)
        rc, out, err = client(["env", PROFILE, "--region", "eu west"], base)
        tap.ok(rc == 2 and out == "" and "--region" in err and one_line(err),
               "a region that is not a region name: usage error", (rc, err))

    with tap.test("exec --region: the command sees the region given"):
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["exec", PROFILE, "--region", "ca-central-1", "--"] + dump,
                              dict(base, **STALE))
        got = json.loads(out) if rc == 0 else {}
        tap.is_((rc, got.get("AWS_REGION"), got.get("AWS_DEFAULT_REGION")),
                (0, "ca-central-1", "ca-central-1"), "both region variables", err)

    def eval_fish(text):
        script = ('echo $KR_ENV_TEXT | source; for v in %s; '
                  'if set -q $v; printf "%%s\\0" $$v; else; printf "<unset>\\0"; end; end'
                  % " ".join(names))
        p = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True,
                           timeout=20, env=krtest.clean_env(dict(STALE, KR_ENV_TEXT=text)))
        return dict(zip(names, p.stdout.decode().split("\0")[:-1])), p.returncode

    with tap.test("env --format fish: every value exact, stale variables erased"):
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["env", PROFILE, "--format", "fish"], base)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(out.startswith("set -gx AWS_ACCESS_KEY_ID 'ASIAFAKEKEY000000001';\n")
               and "set -e AWS_SECURITY_TOKEN;\n" in out and "set -e AWS_PROFILE;\n" in out,
               "set -gx and set -e lines", out.replace(CREDS["SecretAccessKey"], "<secret>"))
        if shutil.which("fish"):
            got, src = eval_fish(out)
            tap.ok(got == want_env, "sourced by fish, every value exact",
                   "differs in: %s" % [k for k in names if got.get(k) != want_env[k]])
            use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001", SecretAccessKey="abc"))
            rc, out, err = client(["env", PROFILE, "--format=fish"], base)
            got, src = eval_fish(out)
            gone = ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
                    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]
            tap.is_({k: got.get(k) for k in gone}, {k: "<unset>" for k in gone},
                    "fish: no stale token, expiry, region or profile survives")
        else:
            tap.skip("sourced by fish", "fish is not installed")

    with tap.test("env --format powershell: single quotes doubled, Remove-Item for the stale"):
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["env", PROFILE, "--format", "powershell"], base)
        secret = CREDS["SecretAccessKey"].replace("'", "''")
        want = ("$Env:AWS_ACCESS_KEY_ID = 'ASIAFAKEKEY000000001'\n"
                "$Env:AWS_SECRET_ACCESS_KEY = '%s'\n"
                "$Env:AWS_SESSION_TOKEN = 'FwoGZXIvYXdzE+tok/en=='\n"
                "Remove-Item -ErrorAction SilentlyContinue Env:AWS_SECURITY_TOKEN\n"
                "$Env:AWS_CREDENTIAL_EXPIRATION = '2030-01-01T00:00:00Z'\n"
                "$Env:AWS_REGION = 'eu-west-1'\n"
                "$Env:AWS_DEFAULT_REGION = 'eu-west-1'\n"
                "Remove-Item -ErrorAction SilentlyContinue Env:AWS_PROFILE\n"
                "Remove-Item -ErrorAction SilentlyContinue Env:AWS_DEFAULT_PROFILE\n" % secret)
        tap.ok(rc == 0 and out == want, "the exact text", out.replace(secret, "<secret>"))
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001",
                               SecretAccessKey="a\u2019b'c"))
        rc, out, err = client(["env", PROFILE, "--format", "powershell"], base)
        tap.ok("$Env:AWS_SECRET_ACCESS_KEY = 'a\u2019\u2019b''c'\n" in out,
               "a typographic quote is doubled too (PowerShell ends a string at it)")

    with tap.test("env --format json and dotenv: the variables that are set"):
        plain = dict(CREDS, SecretAccessKey="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        use(lambda r: ok_reply(region="eu-west-1", **plain))
        rc, out, err = client(["env", PROFILE, "--format", "json"], base)
        want_set = {k: v for k, v in want_env.items() if v != "<unset>"}
        want_set["AWS_SECRET_ACCESS_KEY"] = plain["SecretAccessKey"]
        tap.is_((rc, json.loads(out) if rc == 0 else None), (0, want_set), "json", err)
        rc, out, err = client(["env", PROFILE, "--format", "dotenv"], base)
        lines = dict(l.split("=", 1) for l in out.splitlines()) if rc == 0 else None
        tap.is_((rc, lines), (0, want_set), "dotenv: NAME=value lines", err)
        p = subprocess.run(["sh", "-c", "set -a; . /dev/stdin; echo $AWS_SECRET_ACCESS_KEY"],
                           input=out, capture_output=True, text=True, timeout=10)
        tap.is_(p.stdout.strip(), plain["SecretAccessKey"], "the dotenv text is also sh")
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["env", PROFILE, "--format", "dotenv"], base)
        tap.ok(rc == 1 and out == "" and "dotenv" in err and one_line(err),
               "a value dotenv cannot carry unquoted: refused, nothing printed", (rc, err))
        rc, out, err = client(["env", PROFILE, "--format", "csh"], base)
        tap.ok(rc == 2 and "--format" in err and one_line(err), "an unknown format: usage error",
               (rc, err))

    with tap.test("exec: the command sees no stale AWS_SECURITY_TOKEN or region"):
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001", SecretAccessKey="abc"))
        env = dict(base, **STALE)
        rc, out, err = client(["exec", PROFILE, "--"] + dump, env)
        tap.is_(rc, 0, "exit 0", err)
        got = json.loads(out) if rc == 0 else {}
        gone = ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]
        tap.is_({k: got.get(k, "<unset>") for k in gone}, {k: "<unset>" for k in gone},
                "none of the stale variables reaches the command")
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        rc, out, err = client(["exec", PROFILE, "--"] + dump, env)
        got = json.loads(out) if rc == 0 else {}
        tap.is_((got.get("AWS_SESSION_TOKEN"), got.get("AWS_SECURITY_TOKEN", "<unset>"),
                 got.get("AWS_REGION"), got.get("AWS_DEFAULT_REGION")),
                (CREDS["SessionToken"], "<unset>", "eu-west-1", "eu-west-1"),
                "with a token and a region: the new ones, no AWS_SECURITY_TOKEN")

    # ---- exec ----

    with tap.test("exec runs the command with the credentials and without AWS_PROFILE"):
        use(lambda r: ok_reply(region="eu-west-1", **CREDS))
        env = dict(base, AWS_PROFILE="prod", AWS_DEFAULT_PROFILE="prod", AWS_SECURITY_TOKEN="stale")
        rc, out, err = client(["exec", PROFILE, "--"] + dump, env)
        tap.is_(rc, 0, "exit 0", err)
        got = json.loads(out) if rc == 0 else {}
        for k, v in want_env.items():
            tap.is_(got.get(k, "<unset>"), v, "exec sees %s" % k)
        tap.is_(got.get("KEYROLE_PROFILE"), PROFILE, "KEYROLE_PROFILE marks the nesting")

    with tap.test("exec without -- takes the first non-option word as the command"):
        use(default_handler)
        rc, out, err = client(["exec", PROFILE, "sh", "-c", "echo $AWS_ACCESS_KEY_ID --force"],
                              base)
        tap.is_((rc, out), (0, CREDS["AccessKeyId"] + " --force\n"), "options after it are its own")

    with tap.test("exec passes the command's exit status through"):
        rc, out, err = client(["exec", PROFILE, "--", "sh", "-c", "exit 42"], base)
        tap.is_(rc, 42, "status 42")

    with tap.test("exec inside exec is refused unless --force"):
        use(default_handler)
        rc, out, err = client(["exec", PROFILE, "--", "true"], dict(base, KEYROLE_PROFILE="dev"))
        tap.is_(rc, 1, "refused with exit 1")
        tap.ok(one_line(err) and "dev" in err and "--force" in err, "says why and how", err)
        tap.is_(fake.take(), [], "no request was sent")
        rc, out, err = client(["exec", PROFILE, "--force", "--", "true"],
                              dict(base, KEYROLE_PROFILE="dev"))
        tap.is_(rc, 0, "--force runs it", err)

    with tap.test("exec of a missing command exits 127, a non-executable one 126"):
        rc, out, err = client(["exec", PROFILE, "--", "/nonexistent/cmd"], base)
        tap.ok(rc == 127 and "not found" in err, "127", (rc, err))
        noexec = run.path("noexec")
        with open(noexec, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(noexec, 0o600)
        rc, out, err = client(["exec", PROFILE, "--", noexec], base)
        tap.is_(rc, 126, "126", err)

    # ---- status / forget / remove / add / check / version ----
    status = {"version": "9.9.9", "pid": 4242, "uptime": 3725, "backend": "keyctl",
              "keyring_warning": "store failed: add_key: Disk quota exceeded",
              "note": "the kernel keyring does not survive a reboot",
              "entries": [{"profile": "prod", "role": "arn:aws:iam::123456789012:role/prod",
                           "hop": 1, "expiration": "2099-01-01T00:00:00Z", "from": "sts"},
                          {"profile": "prod-admin",
                           "role": "arn:aws:iam::123456789012:role/prod-admin", "hop": 2,
                           "expiration": "2000-01-01T00:00:00Z", "from": "keyring",
                           "refresh_error": "AccessDenied: not allowed"}],
              "stored_keys": ["dev", "ops"],
              "counters": {"requests": 10, "hits": 8, "misses": 2, "sts_calls": 2,
                           "refreshes": 1, "errors": 0, "sts_errors": {"Throttling": 3}}}

    with tap.test("status --json prints the reply without v and ok"):
        use(lambda r: ok_reply(**status) if r.get("op") == "status" else None)
        rc, out, err = client(["status", "--json"], base)
        tap.is_((rc, json.loads(out) if rc == 0 else None), (0, status), "same members", err)

    with tap.test("status prints a readable table"):
        rc, out, err = client(["status"], base)
        tap.is_(rc, 0, "exit 0", err)
        for part in ("keyroled 9.9.9", "pid 4242", "up 1h02m", "keyctl", "prod-admin",
                     "arn:aws:iam::123456789012:role/prod", "expired", "in ",
                     "refresh failed: AccessDenied", "dev, ops", "requests 10",
                     "Throttling 3", "keyring warning: store failed", "does not survive"):
            tap.ok(part in out, "status shows %r" % part, out)

    with tap.test("status scrubs every daemon string: no forged line, no raw control byte"):
        hostile = json.loads(json.dumps(status))
        hostile["keyring_warning"] = "warn " + HOSTILE
        hostile["note"] = "note " + HOSTILE
        hostile["version"] = "9.9.9\nFORGED LINE"
        hostile["backend"] = "keyctl\x1b[31m"
        hostile["entries"][0].update(profile="prod\nFORGED LINE", role="role " + HOSTILE,
                                     **{"from": "sts\nFORGED LINE"})
        hostile["entries"][1]["refresh_error"] = HOSTILE
        hostile["stored_keys"] = ["dev\nFORGED LINE", "ops"]
        hostile["counters"] = {"requests\nFORGED LINE": 10,
                               "sts_errors": {"Throttling\nFORGED LINE": 3}}
        use(lambda r: ok_reply(**status) if r.get("op") == "status" else None)
        rc, plain, err = client(["status"], base)
        use(lambda r: ok_reply(**hostile) if r.get("op") == "status" else None)
        rc, out, err = client(["status"], base)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(not any(line.startswith(("FORGED", "keyrole:")) for line in out.splitlines()),
               "no line starts with the forged text", out)
        tap.is_(out.count("\n"), plain.count("\n"), "as many lines as with plain strings", out)
        tap.ok(no_controls(out), "no control character but line ends", repr(out))
        tap.ok("refresh failed: Throttling FORGED LINE" in out,
               "the refresh error stays on its own line, newline made a space", out)
        rc, out, err = client(["status", "--json"], base)
        tap.is_((rc, json.loads(out) if rc == 0 else None), (0, hostile),
                "--json keeps the strings exactly (JSON escapes them)")

    with tap.test("get, env and exec warn of a refresh error on one clean stderr line"):
        use(lambda r: ok_reply(AccessKeyId="AKIAFAKE000000000001", SecretAccessKey="x",
                               Expiration="2030-01-01T00:00:00Z\nFORGED LINE",
                               refresh_error=HOSTILE))
        for args in (["get", PROFILE], ["env", PROFILE], ["exec", PROFILE, "--", "true"]):
            rc, out, err = client(args, base)
            tap.is_(rc, 0, "%s exits 0" % args[0], err)
            tap.ok(one_line(err) and no_controls(err) and "refresh failed" in err
                   and "Throttling FORGED LINE" in err,
                   "%s: one warning line, control characters made spaces" % args[0], repr(err))
            if args[0] == "get":
                tap.is_(json.loads(out).get("AccessKeyId"), "AKIAFAKE000000000001",
                        "get still prints the credentials")

    with tap.test("check, add and version scrub daemon strings too"):
        use(lambda r: ok_reply(profiles=[{
            "name": "prod\nFORGED LINE", "ok": False,
            "steps": [{"kind": "source", "type": "static\nFORGED LINE",
                       "profile": "dev\x1b[31m", "access_key_id": "****\nFORGED LINE"},
                      {"kind": "role", "role_arn": "arn\nFORGED LINE"}],
            "problems": [{"severity": "error\nFORGED LINE", "file": "/h/config\nFORGED LINE",
                          "line": 3, "message": "msg " + HOSTILE, "fix": "fix " + HOSTILE}]}]))
        rc, plain_check, err = client(["check"], base)
        tap.is_(rc, 1, "check exits 1 for the error", err)
        tap.ok(no_controls(plain_check) and plain_check.count("\n") == 3
               and not any(line.startswith("FORGED") for line in plain_check.splitlines()),
               "check: three lines (name, chain, problem), none forged, no control character",
               repr(plain_check))
        use(lambda r: ok_reply(arn="arn:aws:iam::1:user/dev\nFORGED LINE\x1b[2J",
                               note="kernel keyring\nFORGED LINE\x1b[2J"))
        rc, out, err = client(["add", "dev"], base,
                              input="AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG\n")
        tap.ok(rc == 0 and out.count("\n") == 1 and no_controls(out), "add: one clean line",
               repr(out))
        tap.ok(one_line(err) and no_controls(err) and "note: kernel keyring FORGED" in err,
               "add: the note is one clean stderr line", repr(err))
        use(lambda r: ok_reply(version="9.9.9\nFORGED LINE\x1b[2J", protocol=1))
        rc, out, err = client(["version"], base)
        tap.ok(rc == 0 and out.count("\n") == 2 and no_controls(out), "version: two clean lines",
               repr(out))

    with tap.test("forget PROFILE, forget --all and remove send the right request"):
        use(lambda r: ok_reply(removed=3))
        rc, out, err = client(["forget", PROFILE], base)
        rc2, out2, err2 = client(["forget", "--all"], base)
        rc3, out3, err3 = client(["remove", PROFILE], base)
        reqs = fake.take()
        tap.is_([rc, rc2, rc3], [0, 0, 0], "all exit 0", err + err2 + err3)
        tap.is_([(r.get("op"), r.get("profile"), r.get("all")) for r in reqs],
                [("forget", PROFILE, None), ("forget", None, True), ("remove", PROFILE, None)],
                "requests")
        tap.ok("3" in out and PROFILE in out and "3" in out2 and PROFILE in out3,
               "confirmations name the count and profile", out + out2 + out3)
        rc, out, err = client(["forget"], base)
        tap.is_(rc, 2, "forget with neither PROFILE nor --all is a usage error")
        rc, out, err = client(["forget", PROFILE, "--all"], base)
        tap.is_(rc, 2, "forget with both is a usage error")

    with tap.test("add reads two lines from stdin, validates and sends them"):
        use(lambda r: ok_reply(arn="arn:aws:iam::123456789012:user/dev"))
        secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        rc, out, err = client(["add", "dev", "--verify"], base,
                              input="AKIAIOSFODNN7EXAMPLE\n%s\n" % secret)
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_([(r.get("op"), r.get("profile"), r.get("access_key_id"),
                  r.get("secret_access_key"), r.get("verify")) for r in reqs],
                [("add", "dev", "AKIAIOSFODNN7EXAMPLE", secret, True)], "the add request")
        tap.ok("user/dev" in out and secret not in out, "confirms with the verified ARN", out)
        for bad, why in (("akia-lower\n%s\n" % secret, "bad key id"),
                         ("AKIAIOSFODNN7EXAMPLE\nwith space\n", "secret with a space"),
                         ("AKIAIOSFODNN7EXAMPLE\n", "no secret line")):
            rc, out, err = client(["add", "dev"], base, input=bad)
            tap.ok(rc == 1 and one_line(err) and not fake.take() and secret not in err
                   and "with space" not in err,
                   "add refuses: %s" % why, (rc, err))

    report = [{"name": "prod", "ok": True, "steps": [
        {"kind": "source", "type": "static", "profile": "dev", "file": "/h/.aws/credentials",
         "line": 1, "access_key_id": "****MPLE"},
        {"kind": "role", "profile": "prod", "role_arn": "arn:aws:iam::1:role/prod",
         "session_name": "keyrole-prod", "duration": 3600, "duration_capped": False,
         "endpoint": "https://sts.us-east-1.amazonaws.com", "file": "/h/.aws/config",
         "line": 4}], "problems": [
        {"severity": "warning", "file": "/h/.aws/config", "line": 6, "message": "unknown key",
         "fix": "did you mean region?"}]}]
    bad_report = report + [{"name": "loop", "ok": False, "steps": [], "problems": [
        {"severity": "error", "file": "/h/.aws/config", "line": 9,
         "message": "source_profile cycle: loop -> loop2 -> loop", "fix": "break the cycle"}]}]

    with tap.test("check prints chains and problems; exit 0 with warnings only"):
        use(lambda r: ok_reply(profiles=report))
        rc, out, err = client(["check"], base)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok("dev (static ****MPLE) -> arn:aws:iam::1:role/prod" in out, "the chain", out)
        tap.ok("/h/.aws/config:6: warning: unknown key (fix: did you mean region?)" in out,
               "problem as file:line: severity: message (fix: ...)", out)
        req = fake.take()[0]
        tap.ok(req.get("op") == "check" and "profile" not in req and "env" in req,
               "check request without profile, with env")

    with tap.test("check exits 1 when a profile has an error; --json prints the list"):
        use(lambda r: ok_reply(profiles=bad_report))
        rc, out, err = client(["check", "loop"], base)
        tap.ok(rc == 1 and "/h/.aws/config:9: error: source_profile cycle" in out,
               "exit 1 with the error line", (rc, out))
        tap.is_(fake.take()[0].get("profile"), "loop", "profile sent")
        rc, out, err = client(["check", "--json"], base)
        tap.is_((rc, json.loads(out)), (1, bad_report), "--json is the profiles array")

    with tap.test("version prints both versions; without a daemon it says so, exit 0"):
        use(default_handler)
        rc, out, err = client(["version"], base)
        tap.ok(rc == 0 and out.startswith("keyrole ") and "keyroled 9.9.9 (protocol 1)" in out,
               "both versions", (rc, out, err))
        env = dict(base, KEYROLE_SOCKET=run.path("sock", "none.sock"))
        del env["KEYROLE_NO_AUTOSTART"]
        rc, out, err = client(["version"], env)
        tap.ok(rc == 0 and out.startswith("keyrole ") and err == ""
               and "\nkeyroled not running (" in out and not os.path.exists(env["KEYROLE_SOCKET"]),
               "own version, 'keyroled not running', exit 0, never autostarts", (rc, out, err))
        rc, out, err = client(["--version"], env)
        tap.ok(rc == 0 and "\nkeyroled not running (" in out, "--version: the same", (rc, out, err))

    # ---- help and usage ----
    cmds = ["get", "env", "exec", "status", "forget", "add", "remove", "check", "version",
            "help"]
    with tap.test("--help, help and CMD --help"):
        rc, top, err = client(["--help"], base)
        tap.ok(rc == 0 and top.startswith("usage: keyrole") and err == "", "keyrole --help")
        tap.ok(all(c in top for c in cmds) and "Exit status" in top, "lists commands and status")
        rc, top2, err = client(["help"], base)
        tap.is_((rc, top2), (0, top), "keyrole help is the same text")
        for c in cmds:
            rc, out, err = client([c, "--help"], base)
            tap.ok(rc == 0 and out.startswith("usage: keyrole %s" % c) and err == "",
                   "keyrole %s --help" % c, (rc, out[:80], err))
            rc2, out2, err2 = client(["help", c], base)
            tap.is_((rc2, out2), (0, out), "keyrole help %s is the same text" % c)
            rc3, out3, err3 = client([c, "-h"], base)
            tap.is_((rc3, out3), (0, out), "keyrole %s -h is the same text" % c)

    with tap.test("usage errors exit 2 with one line"):
        fake.take()
        for args in (["frobnicate"], [], ["get"], ["get", PROFILE, "--bogus"],
                     ["get", PROFILE, "extra"], ["status", "--mfa-code", "1"],
                     ["get", PROFILE, "--mfa-code"], ["help", "frobnicate"], ["get", "-x"],
                     ["get", "bad\nname"]):
            rc, out, err = client(args, base)
            tap.ok(rc == 2 and out == "" and one_line(err), "usage error: %r" % args, (rc, err))
        tap.is_(fake.take(), [], "no request was sent for a usage error")

    # ---- autostart with a fake keyroled ----
    with tap.test("autostart: 100 clients at once start exactly one daemon"):
        bindir = run.mkdir("bin")
        exe = os.path.join(bindir, "keyrole")
        shutil.copy2(krtest.keyrole(), exe)
        record = run.path("starts.jsonl")
        with open(os.path.join(bindir, "keyroled"), "w") as f:
            f.write("#!/bin/sh\nign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)\n"
                    "exec %s %s --serve \"$@\" --record %s --sigign \"$ign\"\n"
                    % (sys.executable, os.path.abspath(__file__), record))
        os.chmod(os.path.join(bindir, "keyroled"), 0o700)
        asock = os.path.join(run.mkdir("auto"), "agent.sock")
        env = {"HOME": home, "KEYROLE_SOCKET": asock, "AWS_SECRET_ACCESS_KEY": "leak-me-not",
               "AWS_ACCESS_KEY_ID": "AKIALEAK"}
        started = []

        def stop_started():
            for s in started:
                try:
                    os.kill(s["pid"], signal.SIGTERM)
                except ProcessLookupError:
                    pass
        run.add_cleanup(stop_started)
        results = krtest.start_many([[exe, "get", PROFILE]] * 100, env=env, timeout=20)
        if os.path.exists(record):
            with open(record) as f:
                started = [json.loads(line) for line in f if line.strip()]
        tap.is_(len(started), 1, "one keyroled was started")
        bad = [r for r in results if r.rc != 0 or r.timed_out]
        tap.ok(not bad, "every client got credentials",
               "; ".join("rc=%r err=%s" % (r.rc, r.stderr.strip()) for r in bad[:3]))
        tap.ok(all(json.loads(r.stdout)["AccessKeyId"] == CREDS["AccessKeyId"]
                   for r in results if r.rc == 0), "with the daemon's answer")
        if started:
            s = started[0]
            tap.ok(s["stdio"][:2] == ["/dev/null"] * 2 and s["stdio"][2].startswith("pipe:"),
                   "the daemon's stdin and stdout are /dev/null, its stderr the client's pipe",
                   s["stdio"])
            tap.ok(s.get("autostarted"), "KEYROLE_AUTOSTARTED=1 says so (until it is ready)")
            tap.is_([fd for fd in s["fds"] if fd > 2 and fd != s["fds"][-1]], [],
                    "the daemon inherits no other fd", s["fds"])
            tap.ok(s["sid"] != os.getsid(0), "the daemon runs in a session of its own")
            tap.is_(s["cwd"], "/", "the daemon runs in /")
            tap.ok(not s["aws_secret_in_env"], "the daemon does not inherit AWS secrets")
            tap.ok(s["sigign"] & (1 << (signal.SIGPIPE - 1)) == 0,
                   "SIGPIPE is not ignored in the daemon", hex(s["sigign"]))
            tap.ok(stat.S_IMODE(os.stat(os.path.dirname(asock)).st_mode) == 0o700,
                   "the socket directory is 0700")
            tap.ok(os.path.exists(os.path.join(os.path.dirname(asock), "autostart.lock")),
                   "the lock file is beside the socket")
        rc, out, err = client(["get", PROFILE], env, exe=exe)
        with open(record) as f:
            n = sum(1 for line in f if line.strip())
        tap.ok(rc == 0 and n == 1, "a later client uses the running daemon", (rc, n, err))

    with tap.test("autostart: a missing keyroled gives exit 3 naming the search"):
        lonely = run.mkdir("lonely")
        exe2 = os.path.join(lonely, "keyrole")
        shutil.copy2(krtest.keyrole(), exe2)
        env = {"HOME": home, "KEYROLE_SOCKET": os.path.join(run.mkdir("auto2"), "agent.sock"),
               "PATH": "/nonexistent"}
        rc, out, err = client(["get", PROFILE], env, exe=exe2)
        tap.ok(rc == 3 and one_line(err) and "PATH" in err, "exit 3", (rc, err))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(sys.argv[2:])
    else:
        krtest.main(main)
