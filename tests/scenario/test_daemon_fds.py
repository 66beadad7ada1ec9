"""keyroled and file descriptors: a credential_process helper inherits none
of the daemon's (not even one keyroled itself inherited without
close-on-exec), and a daemon out of descriptors backs off instead of
spinning on its listening socket, goes on serving the connections it has,
and accepts again once descriptors are free."""

import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def start_daemon(run, home, name, **popen_kw):
    """keyroled on a private socket with extra Popen arguments -> (proc, socket, log path)."""
    sockdir = run.mkdtemp(name + "-")
    sock = os.path.join(sockdir, "agent.sock")
    log_path = run.path(name + ".log")
    with open(log_path, "ab") as log:
        p = subprocess.Popen([krtest.keyroled(), "--socket", sock, "--cache", "memory",
                              "--log-level", "debug"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=krtest.clean_env({"HOME": home,
                                                   "XDG_RUNTIME_DIR": run.mkdtemp("xdg-")}),
                             cwd="/", **popen_kw)
    run.add_cleanup(krtest.stop_process, p)
    if not krtest.wait_until(lambda: p.poll() is not None or krtest.socket_accepts(sock), 10) \
            or p.poll() is not None:
        raise RuntimeError("keyroled did not start: " + read(log_path)[-2000:])
    return p, sock, log_path


def read(path):
    with open(path, "r", errors="replace") as f:
        return f.read()


def frame(obj):
    b = json.dumps(obj).encode()
    return struct.pack(">I", len(b)) + b


def recv_reply(s):
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr))
        if not c:
            return None
        hdr += c
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None
        body += c
    return json.loads(body)


def ping(sock, timeout=2.0):
    try:
        return krtest.kr_request(sock, {"v": 1, "op": "ping"}, timeout).get("ok") is True
    except (OSError, ValueError):
        return False


def helpers(tap, run):
    with tap.test("a credential_process helper sees only stdin, stdout and stderr"):
        fd_report = krtest.require_file(krtest.test_bin("fd_report"), "fd_report")
        home = run.home()
        krtest.write_aws_config(home, "[profile fds]\ncredential_process = %s --creds\n"
                                % fd_report, "")
        # keyroled's parent leaves a descriptor open without close-on-exec.
        leak = os.open("/dev/null", os.O_RDONLY)
        try:
            _, sock, log_path = start_daemon(run, home, "inherit", pass_fds=(leak,))
        finally:
            os.close(leak)
        p = krtest.run_client(["get", "fds"], env=krtest.aws_env(
            home, sock, extra={"KEYROLE_NO_AUTOSTART": "1"}))
        tap.is_(p.returncode, 0, "keyrole get succeeds: the helper found no stray fd",
                p.stderr.strip())
        doc = json.loads(p.stdout or "{}")
        tap.is_(doc.get("AccessKeyId"), "AKIAFDREPORT0000", "with the helper's keys")


def out_of_descriptors(tap, run):
    with tap.test("out of descriptors: accept backs off, open connections are served"):
        home = run.home("emfile")
        limit = 64

        def low_nofile():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        proc, sock, log_path = start_daemon(run, home, "emfile", preexec_fn=low_nofile)
        used = len(os.listdir("/proc/%d/fd" % proc.pid))
        tap.diag("keyroled holds %d descriptors at start, limit %d" % (used, limit))
        # Every connection must send its request within 2 s of its accept
        # (KR_CONN_READ_MS): everything below happens well before that, so
        # no connection closes (and frees a descriptor) on its own meanwhile.
        t0 = time.monotonic()
        first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        first.settimeout(5)
        first.connect(sock)  # open, its request not sent yet
        crowd = []
        try:
            for _ in range(limit + 40):  # more than the daemon can hold; the rest queue
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect(sock)
                crowd.append(s)
            exhausted = krtest.wait_until(
                lambda: "accept: Too many open files" in read(log_path), 0.8)
            tap.ok(exhausted, "the daemon ran out of descriptors (and said so)",
                   read(log_path)[-500:])
            t1 = time.monotonic()
            before = len(read(log_path).splitlines())
            time.sleep(max(0.0, t0 + 1.2 - t1))
            lines = read(log_path).splitlines()
            spun = len(lines) - before
            tap.ok(spun < 20, "its log stays quiet while out of descriptors "
                   "(%d lines in %.2f s)" % (spun, time.monotonic() - t1),
                   "\n".join(lines[-5:]))
            accept_lines = [ln for ln in lines if "accept:" in ln]
            tap.is_(len(accept_lines), 1, "the episode is logged once", accept_lines[:5])
            t2 = time.monotonic()
            first.sendall(frame({"v": 1, "op": "ping"}))
            r = recv_reply(first)
            tap.ok(r is not None and r.get("ok") is True,
                   "a connection opened before still gets its answer (sent %.2f s after "
                   "connecting, answered in %.0f ms)"
                   % (t2 - t0, (time.monotonic() - t2) * 1000), repr(r))
        finally:
            first.close()
            for s in crowd:
                s.close()
        t0 = time.monotonic()
        tap.ok(krtest.wait_until(lambda: ping(sock), 5),
               "new connections are served again once the others closed (%.2f s)"
               % (time.monotonic() - t0))
        tap.ok(krtest.wait_until(lambda: "accepting connections again" in read(log_path), 3),
               "and the daemon says it accepts again", read(log_path)[-300:])
        tap.ok(proc.poll() is None, "keyroled still runs")


def all_tests(tap, run):
    helpers(tap, run)
    out_of_descriptors(tap, run)


krtest.main(all_tests)
