"""Where keyrole and keyroled meet: a relative socket path is the current
directory's at start (for the daemon's whole run, and for a daemon the
client starts in /), and without XDG_RUNTIME_DIR both fall back to the same
place under the user's home, which no other user can take first (the old
/tmp/keyrole-UID could be made by anyone and so deny the service)."""

import os
import signal
import socket
import stat
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def client(args, env, cwd):
    """keyrole ARGS in cwd -> CompletedProcess (str output)."""
    return subprocess.run([krtest.keyrole()] + list(args), env=krtest.clean_env(env), cwd=cwd,
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def server_pid(path):
    """The pid of whoever listens on path (SO_PEERCRED), or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            return struct.unpack("3i", cred)[0]
    except OSError:
        return None


def stop_pid(pid):
    """SIGTERM a daemon we did not start as a child (autostarted), bounded wait."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    krtest.wait_until(lambda: not os.path.exists("/proc/%d" % pid), 5)
    if os.path.exists("/proc/%d" % pid):
        os.kill(pid, signal.SIGKILL)


def memory_only(home, owner=None):
    """~/.config/keyrole/keyroled.conf with cache = memory: a daemon the client
    starts (it passes no --cache) must not touch a shared keyring."""
    d = os.path.join(home, ".config", "keyrole")
    os.makedirs(d, 0o700, exist_ok=True)
    conf = os.path.join(d, "keyroled.conf")
    with open(conf, "w") as f:
        f.write("cache = memory\n")
    if owner:
        for x in (os.path.join(home, ".config"), d, conf):
            os.chown(x, owner[0], owner[1])


def start_keyroled(run, args, env, cwd, wait_for, name, **kw):
    log_path = run.path(name + ".log")
    with open(log_path, "ab") as log:
        p = subprocess.Popen([krtest.keyroled(), "--cache", "memory", "--log-level", "debug"]
                             + list(args), env=krtest.clean_env(env), cwd=cwd,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **kw)
    run.add_cleanup(krtest.stop_process, p)
    up = krtest.wait_until(lambda: p.poll() is not None or krtest.socket_accepts(wait_for), 10)
    return p, log_path, bool(up) and p.poll() is None


def relative(tap, run):
    home = run.home()
    memory_only(home)
    base = run.mkdtemp("rel-")  # 0700, ours: a fine directory for a socket
    os.mkdir(os.path.join(base, "run"), 0o700)

    with tap.test("keyroled --socket with a relative path listens in its current directory"):
        want = os.path.join(base, "run", "agent.sock")
        p, log_path, up = start_keyroled(run, ["--socket", "run/agent.sock"], {"HOME": home},
                                         base, want, "rel")
        tap.ok(up, "it listens on %s" % want, read(log_path)[-600:])
        # The socket accepts (listen) a moment before the line is logged.
        tap.ok(krtest.wait_until(lambda: "listening on %s" % want in read(log_path), 5),
               "and says so with the full path", read(log_path)[-600:])
        r = client(["status"], {"HOME": home, "KEYROLE_SOCKET": "run/agent.sock",
                                "KEYROLE_NO_AUTOSTART": "1"}, base)
        tap.is_(r.returncode, 0, "keyrole with the same relative KEYROLE_SOCKET, in the same "
                "directory, reaches it", r.stderr)
        krtest.stop_process(p)
        tap.ok(not os.path.exists(want), "the socket is removed on exit")

    with tap.test("keyroled --socket NAME without a directory part"):
        want = os.path.join(base, "x.sock")
        p, log_path, up = start_keyroled(run, ["--socket", "x.sock"], {"HOME": home}, base, want,
                                         "bare")
        tap.ok(up, "it listens on %s" % want, read(log_path)[-600:])
        krtest.stop_process(p)

    with tap.test("a relative KEYROLE_SOCKET: the daemon keyrole starts (in /) uses it too"):
        want = os.path.join(base, "auto", "agent.sock")
        r = client(["status"], {"HOME": home, "KEYROLE_SOCKET": "auto/agent.sock"}, base)
        pid = server_pid(want)
        run.add_cleanup(stop_pid, pid)
        tap.is_(r.returncode, 0, "keyrole status starts keyroled and gets an answer", r.stderr)
        tap.ok(pid is not None, "a daemon listens on %s" % want)
        if pid:
            argv = read("/proc/%d/cmdline" % pid).split("\0")
            tap.ok(want in argv, "it was given the absolute path", repr(argv))
            tap.is_(os.readlink("/proc/%d/cwd" % pid), "/", "while it runs in /")
        tap.ok(not os.path.exists("/auto"), "nothing was made under /")
        stop_pid(pid)


def fallback(tap, run):
    with tap.test("without XDG_RUNTIME_DIR, keyrole and keyroled meet under ~/.cache, even "
                  "when another user made /tmp/keyrole-UID"):
        if not krtest.is_root():
            raise krtest.Skip("needs root to run as the test user and to squat its /tmp path")
        user = krtest.ensure_test_user()
        uid, gid = user[0], user[1]
        if os.path.exists("/run/user/%d" % uid):
            raise krtest.Skip("/run/user/%d exists: the fallback would not be used" % uid)
        home, rt = krtest.user_dirs(run, user)
        memory_only(home, (uid, gid))
        squat = "/tmp/keyrole-%d" % uid
        if not os.path.exists(squat):
            # Another uid (root here) was first, with a directory open to all.
            os.mkdir(squat, 0o1777)
            os.chmod(squat, 0o1777)
            run.add_cleanup(lambda: subprocess.run(["rm", "-rf", "--one-file-system", squat],
                                                   timeout=30))
        st = os.lstat(squat)
        tap.ok(st.st_uid != uid, "%s belongs to another uid (%d)" % (squat, st.st_uid))
        want = os.path.join(home, ".cache", "keyrole", "agent.sock")
        env = {"HOME": home, "USER": user[2]}  # no XDG_RUNTIME_DIR, no KEYROLE_SOCKET
        p, log_path, up = start_keyroled(run, [], env, "/", want, "fallback", user=uid,
                                         group=gid, extra_groups=[])
        tap.ok(up, "keyroled without --socket listens on ~/.cache/keyrole/agent.sock",
               read(log_path)[-600:])
        if up:
            for d in (os.path.dirname(want), os.path.dirname(os.path.dirname(want))):
                tap.is_(stat.S_IMODE(os.stat(d).st_mode), 0o700, "%s is 0700" % d)
                tap.is_(os.stat(d).st_uid, uid, "%s is the user's" % d)
        r = krtest.run_as_user(user, [krtest.keyrole(), "status"], home, rt,
                               env={"XDG_RUNTIME_DIR": None, "KEYROLE_NO_AUTOSTART": "1"})
        tap.is_(r.returncode, 0, "keyrole (same environment) reaches it", r.stderr)
        krtest.stop_process(p)

        # The client starting the daemon itself lands in the same place.
        r = krtest.run_as_user(user, [krtest.keyrole(), "status"], home, rt,
                               env={"XDG_RUNTIME_DIR": None})
        pid = server_pid(want)
        run.add_cleanup(stop_pid, pid)
        tap.is_(r.returncode, 0, "keyrole starts keyroled there when none runs", r.stderr)
        tap.ok(pid is not None, "and it listens on ~/.cache/keyrole/agent.sock")
        stop_pid(pid)


def autostart_failures(tap, run):
    home = run.home()
    memory_only(home)
    base = run.mkdtemp("fail-")

    with tap.test("KEYROLE_SOCKET naming a file that is not a socket: said, nothing left"):
        target = os.path.join(base, ".profile")
        with open(target, "w") as f:
            f.write("# a dotfile\n")
        r = client(["status"], {"HOME": home, "KEYROLE_SOCKET": target}, base)
        tap.ok(r.returncode == 3 and r.stderr.count("\n") == 1
               and "%s exists and is not a socket" % target in r.stderr,
               "keyrole: exit 3, the reason in one line", (r.returncode, r.stderr))
        tap.is_(sorted(os.listdir(base)), [".profile"], "no lock file next to it")
        p = subprocess.run([krtest.keyroled(), "--cache", "memory", "--socket", target],
                           env=krtest.clean_env({"HOME": home}), capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        tap.ok(p.returncode != 0 and "exists and is not a socket" in p.stderr,
               "keyroled refuses it", p.stderr)
        tap.is_(sorted(os.listdir(base)), [".profile"], "and leaves no lock file either")

    with tap.test("a daemon that cannot start: keyrole says why, in the daemon's words"):
        conf = os.path.join(home, ".config", "keyrole", "keyroled.conf")
        with open(conf, "w") as f:
            f.write("cache = memory\nbogus = 1\n")
        os.mkdir(os.path.join(base, "run"), 0o700)
        r = client(["status"], {"HOME": home, "KEYROLE_SOCKET": os.path.join(base, "run", "s")},
                   base)
        tap.ok(r.returncode == 3 and r.stderr.count("\n") == 1
               and "could not start: %s:2: unknown setting 'bogus'" % conf in r.stderr,
               "exit 3: file, line and the setting", (r.returncode, r.stderr))
        memory_only(home)
        r = client(["status"], {"HOME": home, "KEYROLE_SOCKET": os.path.join(base, "run", "s")},
                   base)
        pid = server_pid(os.path.join(base, "run", "s"))
        run.add_cleanup(stop_pid, pid)
        tap.is_(r.returncode, 0, "fixed: the next keyrole starts it", r.stderr)
        if pid:
            fd2 = os.readlink("/proc/%d/fd/2" % pid)
            tap.is_(fd2, "/dev/null", "a started daemon's stderr is /dev/null once ready")
        stop_pid(pid)


def all_tests(tap, run):
    relative(tap, run)
    fallback(tap, run)
    autostart_failures(tap, run)


krtest.main(all_tests)
