"""keyroled's socket: modes, bad frames, idle connections, other uids,
stale sockets, systemd socket activation and READY=1."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def raw(sock_path, data, timeout=3.0, shut=False):
    """Send raw bytes; return (reply dict or None, closed_without_reply)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        hdr = b""
        while len(hdr) < 4:
            c = s.recv(4 - len(hdr))
            if not c:
                return None, True
            hdr += c
        (n,) = struct.unpack(">I", hdr)
        body = b""
        while len(body) < n:
            c = s.recv(n - len(body))
            if not c:
                break
            body += c
        return json.loads(body), False


def frame(obj):
    b = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return struct.pack(">I", len(b)) + b


def ping_ms(path):
    t = time.monotonic()
    r = krtest.kr_request(path, {"v": 1, "op": "ping"}, timeout=5)
    return r.get("ok") is True, (time.monotonic() - t) * 1000


def main(tap, run):
    home = run.home()
    d = run.daemon(home)
    sock = d.socket

    with tap.test("socket is 0600 in a 0700 directory"):
        st = os.stat(sock)
        tap.ok(stat.S_ISSOCK(st.st_mode) and (st.st_mode & 0o777) == 0o600,
               "socket mode is 0600", oct(st.st_mode & 0o777))
        dst = os.stat(os.path.dirname(sock))
        tap.is_(dst.st_mode & 0o777, 0o700, "socket directory mode is 0700")

    with tap.test("default socket directory is created 0700 under XDG_RUNTIME_DIR"):
        xdg = run.mkdtemp("xdg-")
        p = subprocess.Popen([krtest.keyroled(), "--cache", "memory"],
                             env=krtest.clean_env({"HOME": home, "XDG_RUNTIME_DIR": xdg}),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = os.path.join(xdg, "keyrole", "agent.sock")
        up = krtest.wait_until(lambda: krtest.socket_accepts(path), 5)
        tap.ok(up, "daemon listens on $XDG_RUNTIME_DIR/keyrole/agent.sock")
        if up:
            tap.is_(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700, "keyrole dir is 0700")
        krtest.stop_process(p)
        tap.ok(not os.path.exists(path), "socket removed on SIGTERM")

    with tap.test("ping and version over the socket"):
        r = d.request({"v": 1, "op": "ping"})
        tap.ok(r.get("ok") is True, "ping answers ok")
        r = d.request({"v": 1, "op": "version"})
        tap.ok(r.get("ok") is True and r.get("protocol") == 1 and r.get("version"),
               "version answers with version and protocol", json.dumps(r))

    with tap.test("keyrole version talks to keyroled"):
        p = krtest.run_client(["version"], env={"KEYROLE_SOCKET": sock, "HOME": home})
        tap.is_(p.returncode, 0, "keyrole version exits 0", p.stderr)
        tap.ok("keyrole " in p.stdout and "keyroled " in p.stdout,
               "prints the client's and the daemon's versions", p.stdout)

    with tap.test("oversized frame is refused before its body is read"):
        r, closed = raw(sock, struct.pack(">I", 10 * 1024 * 1024) + b"{")
        tap.ok(r is not None and r.get("error") == "toobig", "error reply 'toobig'", repr(r))
        ok, ms = ping_ms(sock)
        tap.ok(ok and ms < 500, "daemon still answers promptly (%.1f ms)" % ms)

    with tap.test("bad frames get error replies"):
        cases = [
            (struct.pack(">I", 0), "proto", "zero length"),
            (frame(b"this is not json"), "proto", "garbage body"),
            (frame(b"[1,2,3]"), "proto", "JSON that is not an object"),
            (frame({"v": 2, "op": "ping"}), "version", "another protocol version"),
            (frame({"op": "ping"}), "version", "no version"),
            (frame({"v": 1, "op": "launch-missiles"}), "unknown_op", "unknown operation"),
            (frame({"v": 1}), "proto", "no operation"),
            (frame({"v": 1, "op": "get"}), "inval", "get without a profile"),
            (frame({"v": 1, "op": "get", "profile": "x", "env": "nope"}), "inval",
             "env that is not an object"),
            # "x\u0000y" was served as profile "x" (issue 13): a NUL in any string is refused.
            (frame({"v": 1, "op": "get", "profile": "x\u0000y"}), "inval",
             "a profile name with a NUL inside"),
            (frame({"v": 1, "op": "forget", "profile": "x\u0000y"}), "inval",
             "forget of a name with a NUL inside"),
            (frame({"v": 1, "op": "get", "profile": "x", "env": {"HOME": "/h\u0000/x"}}),
             "inval", "an env value with a NUL inside"),
        ]
        for data, want, what in cases:
            r, closed = raw(sock, data)
            tap.ok(r is not None and r.get("ok") is False and r.get("error") == want,
                   "%s -> error '%s'" % (what, want), repr(r))
        ok, ms = ping_ms(sock)
        tap.ok(ok and ms < 500, "daemon still answers promptly after bad frames (%.1f ms)" % ms)

    with tap.test("half a frame and silence is closed by the read deadline"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(sock)
            s.sendall(struct.pack(">I", 100) + b'{"v":1,')
            t = time.monotonic()
            ok, ms = ping_ms(sock)
            tap.ok(ok and ms < 1000, "another client is answered meanwhile (%.1f ms)" % ms)
            got = s.recv(4096)
            waited = time.monotonic() - t
            tap.ok(waited < 5, "stalled connection closed after %.1f s" % waited, repr(got[:40]))

    with tap.test("1000 idle connections do not stop a new client"):
        idle = []
        try:
            for _ in range(1000):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock)
                idle.append(s)
            ok, ms = ping_ms(sock)
            tap.ok(ok and ms < 500,
                   "new client answered promptly with 1000 idle connections open (%.1f ms)" % ms)
        finally:
            for s in idle:
                s.close()
        tap.ok(d.alive(), "daemon alive")

    with tap.test("past the connection cap a client gets a clear 'busy' reply"):
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard < 1200:
            raise krtest.Skip("RLIMIT_NOFILE hard limit %d is below 1200" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
        held = []
        try:
            # KR_CONN_MAX (1024) connections that have sent nothing yet (they
            # have 2 s before the read deadline closes them), then one more.
            t0 = time.monotonic()
            for _ in range(1024):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(sock)
                held.append(s)
            replies = []

            def one_more():
                try:  # the listen backlog may still be full: EAGAIN, try again
                    replies.append(raw(sock, frame({"v": 1, "op": "ping"}), timeout=1)[0])
                except (BlockingIOError, socket.timeout):
                    return False
                return replies[-1] is not None and replies[-1].get("error") == "busy"

            tap.ok(krtest.wait_until(one_more, 1.5),
                   "one more connection is refused with error 'busy' (after %.2f s)"
                   % (time.monotonic() - t0), replies[-3:])
            r = replies[-1] if replies else {}
            tap.ok(r and "connection limit" in r.get("message", ""),
                   "the refusal says the daemon is at its connection limit", r)
            # The real client waits its turn instead of failing.
            client = subprocess.Popen([krtest.keyrole(), "status", "--json"],
                                      env=krtest.clean_env({"HOME": home, "KEYROLE_SOCKET": sock,
                                                            "KEYROLE_NO_AUTOSTART": "1"}),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            tap.ok(client.poll() is None, "keyrole keeps retrying while the daemon is busy")
        finally:
            for s in held:
                s.close()
        out, err = client.communicate(timeout=15)
        tap.is_(client.returncode, 0, "and succeeds once connections are free", err)
        tap.ok(krtest.wait_until(lambda: ping_ms(sock)[0], 3), "served again once they closed")

    with tap.test("a client that does not read its reply is dropped"):
        big = run.home("big")
        krtest.write_aws_config(big, "[profile base]\nregion = eu-west-1\n" + "".join(
            "[profile p%04d]\nrole_arn = arn:aws:iam::123456789012:role/r%04d\n"
            "source_profile = base\n" % (i, i) for i in range(6000)),
            "[base]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\n"
            "aws_secret_access_key = not-a-real-secret\n")
        req = {"v": 1, "op": "check", "env": krtest.aws_env(big)}
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(30)
        s.connect(sock)
        s.sendall(frame(req))
        hdr = s.recv(4, socket.MSG_WAITALL)
        size = struct.unpack(">I", hdr)[0] if len(hdr) == 4 else 0
        tap.ok(size > 1 << 20, "the reply is larger than the socket buffers (%d bytes)" % size)
        t0 = time.monotonic()
        tap.ok(krtest.wait_until(lambda: "reply not taken" in d.log_text(), 15),
               "the daemon gives up on the reader after its write deadline (%.1f s)"
               % (time.monotonic() - t0))
        got, n = 4, 1
        while n:
            try:
                n = len(s.recv(1 << 16))
            except (ConnectionResetError, socket.timeout):
                break
            got += n
        s.close()
        tap.ok(got < 4 + size, "the connection was closed before the whole reply (%d of %d)"
               % (got, 4 + size))
        tap.ok(ping_ms(sock)[0], "daemon still answers")

    with tap.test("a live daemon's socket is not taken over"):
        p = subprocess.run([krtest.keyroled(), "--socket", sock, "--cache", "memory"],
                           env=krtest.clean_env({"HOME": home}), capture_output=True, text=True,
                           timeout=10)
        tap.ok(p.returncode != 0, "second daemon exits with an error", str(p.returncode))
        tap.ok("already answers" in p.stderr, "it says another one answers", p.stderr[-300:])
        tap.ok(ping_ms(sock)[0], "first daemon still answers")

    with tap.test("a stale socket file is replaced"):
        sd = run.mkdtemp("stale-")
        stale = os.path.join(sd, "agent.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()  # left behind, nobody listening
        d3 = krtest.Daemon(None, home, sd, run=run).start()
        tap.ok(ping_ms(d3.socket)[0], "daemon started on a stale socket path")
        d3.stop()

    with tap.test("two daemons starting at once on a stale path: one serves"):
        rounds, good = 8, 0
        for i in range(rounds):
            sd = run.mkdtemp("race-")
            path = os.path.join(sd, "agent.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()
            argv = [krtest.keyroled(), "--socket", path, "--cache", "memory"]
            ps = [subprocess.Popen(argv, env=krtest.clean_env({"HOME": home}),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                  for _ in range(2)]
            krtest.wait_until(lambda: any(p.poll() is not None for p in ps), 5)
            time.sleep(0.2)
            alive = [p for p in ps if p.poll() is None]
            dead = [p for p in ps if p.poll() is not None]
            msg = "".join(p.stderr.read() for p in dead)
            if len(alive) == 1 and ping_ms(path)[0] and "already answers" in msg:
                good += 1
            else:
                tap.diag("round %d: %d alive; %s" % (i, len(alive), msg.strip()[-200:]))
            for p in ps:
                krtest.stop_process(p)
                p.stderr.close()
        tap.is_(good, rounds, "each round: one daemon serves, the other says another answers")

    with tap.test("connections from another uid are refused"):
        if not krtest.is_root():
            raise krtest.Skip("needs root to run a client as another user")
        user = krtest.ensure_test_user()
        od = run.mkdtemp("open-")
        os.chmod(run.dir, 0o711)
        os.chmod(od, 0o711)
        d4 = krtest.Daemon(None, home, os.path.join(od, "s"), run=run).start()
        # Open the path up so only the SO_PEERCRED check stands in the way.
        os.chmod(os.path.dirname(d4.socket), 0o711)
        os.chmod(d4.socket, 0o666)
        code = ("import socket,struct,sys\n"
                "s=socket.socket(socket.AF_UNIX);s.settimeout(5);s.connect(sys.argv[1])\n"
                "b=b'{\"v\":1,\"op\":\"ping\"}'\n"
                "try:\n s.sendall(struct.pack('>I',len(b))+b);d=s.recv(100)\n"
                "except OSError as e: d=b''\n"
                "print('REPLY' if d else 'CLOSED')\n")
        hh, xdg = krtest.user_dirs(run, user)
        p = krtest.run_as_user(user, ["/usr/bin/python3", "-c", code, d4.socket], hh, xdg)
        tap.ok("CLOSED" in p.stdout, "other uid gets no answer", p.stdout + p.stderr)
        tap.ok("refused a connection from uid %d" % user[0] in d4.log_text(),
               "refusal is logged with the uid")
        tap.ok(ping_ms(d4.socket)[0], "own uid still served")
        d4.stop()

    with tap.test("sockets passed by systemd are checked"):
        sa = shutil.which("systemd-socket-activate")
        if not sa:
            raise krtest.Skip("systemd-socket-activate not installed")
        sd = run.mkdtemp("sa-bad-")
        cases = (("two listening sockets", ["-l", os.path.join(sd, "a.sock"),
                                              "-l", os.path.join(sd, "b.sock")],
                  os.path.join(sd, "a.sock"), "passed 2 socket"),
                 ("a datagram socket", ["--datagram", "-l", os.path.join(sd, "d.sock")],
                  os.path.join(sd, "d.sock"), "expected one listening AF_UNIX stream"))
        for what, args, path, words in cases:
            p = subprocess.Popen([sa] + args + ["-E", "HOME=" + home, krtest.keyroled(),
                                                "--cache", "memory"],
                                 env=krtest.clean_env({"HOME": home}), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            try:
                krtest.wait_until(lambda: os.path.exists(path), 5)
                c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if "datagram" in what
                                  else socket.SOCK_STREAM)
                try:  # the first connection (or datagram) makes it exec keyroled
                    if "datagram" in what:
                        c.sendto(b"x", path)
                    else:
                        c.connect(path)
                except OSError:
                    pass
                c.close()
                exited = krtest.wait_until(lambda: p.poll() is not None, 5)
                err = p.stderr.read() if exited else ""
            finally:
                krtest.stop_process(p)
            tap.ok(exited and p.returncode != 0 and words in err,
                   "%s: keyroled refuses to start and says why" % what, err.strip()[-300:])

    with tap.test("socket activation and READY=1"):
        sa = shutil.which("systemd-socket-activate")
        if not sa:
            raise krtest.Skip("systemd-socket-activate not installed")
        sd = run.mkdtemp("sa-")
        path = os.path.join(sd, "agent.sock")
        nsock = os.path.join(sd, "notify")
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n.bind(nsock)
        n.settimeout(10)
        p = subprocess.Popen([sa, "-l", path, "--fdname=keyroled", "-E", "NOTIFY_SOCKET=" + nsock,
                              "-E", "WATCHDOG_USEC=300000",
                              "-E", "HOME=" + home, krtest.keyroled(), "--cache", "memory"],
                             env=krtest.clean_env({"HOME": home}), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            up = krtest.wait_until(lambda: os.path.exists(path), 5)
            tap.ok(up, "systemd-socket-activate listens")
            ok, ms = ping_ms(path)  # first connection starts keyroled
            tap.ok(ok, "socket-activated daemon answers")
            msgs = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(b"READY=1" in m for m in msgs):
                try:
                    msgs.append(n.recv(4096))
                except socket.timeout:
                    break
            tap.ok(any(b"READY=1" in m for m in msgs), "READY=1 arrives on NOTIFY_SOCKET",
                   repr(msgs))
            tap.ok(any(b"READY=1" in m and b"\nSTATUS=" in m for m in msgs),
                   "with a STATUS= line", repr(msgs))
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and not any(b"WATCHDOG=1" in m for m in msgs):
                try:
                    msgs.append(n.recv(4096))
                except socket.timeout:
                    break
            tap.ok(any(b"WATCHDOG=1" in m for m in msgs), "the watchdog is fed", repr(msgs))
            p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and not any(b"STOPPING=1" in m for m in msgs):
                try:
                    msgs.append(n.recv(4096))
                except socket.timeout:
                    break
            tap.ok(any(b"STOPPING=1" in m for m in msgs), "STOPPING=1 on SIGTERM")
        finally:
            krtest.stop_process(p)
            n.close()


def more(tap, run):
    home = run.home("more")
    with tap.test("--idle-exit ends an idle daemon"):
        d = krtest.Daemon(None, home, run.mkdtemp("idle-"), args=["--idle-exit", "1"], run=run)
        run.adopt(d)
        d.start()
        exited = krtest.wait_until(lambda: d.proc.poll() is not None, 6)
        tap.ok(exited and d.proc.returncode == 0, "exited 0 after 1 s without clients")
        tap.ok("idle" in d.log_text(), "says why", d.log_text()[-200:])

    with tap.test("on the journal's stream, lines carry syslog priority prefixes"):
        logf = run.path("journal-stream.log")
        sd = run.mkdtemp("journal-")
        with open(logf, "wb") as f:
            st = os.fstat(f.fileno())
            env = krtest.clean_env({"HOME": home,
                                    "JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
            p = subprocess.Popen([krtest.keyroled(), "--socket", os.path.join(sd, "agent.sock"),
                                  "--cache", "memory"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=f)
        try:
            krtest.wait_until(lambda: krtest.socket_accepts(os.path.join(sd, "agent.sock")), 5)
        finally:
            krtest.stop_process(p)
        with open(logf) as f:
            lines = f.read().splitlines()
        tap.ok(lines and all(re.match(r"<[0-7]>\S", ln) for ln in lines),
               "every line starts with <N>", lines[:3])
        tap.ok(any(ln.startswith("<6>keyroled ") and "listening on" in ln for ln in lines),
               "the start is logged at info (6)", lines[:3])
        tap.ok(not any("keyroled: info:" in ln for ln in lines), "no plain-stderr prefixes")

    with tap.test("SIGHUP rereads the settings file"):
        conf = run.path("keyroled.conf")
        with open(conf, "w") as f:
            f.write("# keyroled settings\nrefresh-margin = 600\n")
        d = krtest.Daemon(None, home, run.mkdtemp("hup-"), args=["--config", conf], run=run)
        run.adopt(d)
        d.start()
        with open(conf, "w") as f:
            f.write("refresh-margin = 300\nidle-exit = 0\n")
        d.proc.send_signal(signal.SIGHUP)
        tap.ok(krtest.wait_until(lambda: "refresh margin 300 s" in d.log_text(), 5),
               "new margin in effect", d.log_text()[-300:])
        with open(conf, "w") as f:
            f.write("no-such-setting = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        tap.ok(krtest.wait_until(lambda: "not reloaded" in d.log_text(), 5),
               "a bad file is refused and the old settings kept")
        tap.ok(ping_ms(d.socket)[0], "still serving")

    with tap.test("SIGHUP can turn idle exit off"):
        conf = run.path("keyroled-idle.conf")
        with open(conf, "w") as f:
            f.write("idle-exit = 2\n")
        d = krtest.Daemon(None, home, run.mkdtemp("hup-idle-"), args=["--config", conf], run=run)
        run.adopt(d)
        d.start()
        with open(conf, "w") as f:
            f.write("idle-exit = 0\n")
        d.proc.send_signal(signal.SIGHUP)
        tap.ok(krtest.wait_until(lambda: "idle exit 0 s" in d.log_text(), 5),
               "reloaded with idle exit off", d.log_text()[-300:])
        time.sleep(3)
        tap.ok(d.alive(), "still running 3 s later: the old 2 s idle timer is gone",
               d.log_text()[-300:])

    with tap.test("bad settings stop the start with a clear message"):
        p = subprocess.run([krtest.keyroled(), "--cache", "floppy"], capture_output=True,
                           text=True, env=krtest.clean_env({"HOME": home}), timeout=10)
        tap.ok(p.returncode == 2 and "floppy" in p.stderr, "exit 2 naming the value", p.stderr)


def all_tests(tap, run):
    main(tap, run)
    more(tap, run)


krtest.main(all_tests)
