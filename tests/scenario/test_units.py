"""The systemd user units: systemd-analyze verify is silent, the sandbox
scores an exposure of 2.5 or lower, and the sandbox still lets keyroled do
its work (keyring syscalls, network, D-Bus, credential_process children).

systemd is installed but is not PID 1 here, so the units are checked
offline: @BINDIR@ is replaced by $KR_BUILD in a temporary copy (verify
wants the ExecStart binary to exist), and the man pages that the units'
Documentation= names are put on a private MANPATH (verify runs man(1) on
them).
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

MAX_EXPOSURE = 2.5
# System calls keyroled (or a credential_process child) cannot do without.
NEEDED_SYSCALLS = ("add_key", "keyctl", "request_key", "prctl", "prlimit64", "socket",
                   "connect", "sendmsg", "recvmsg", "execve", "clone", "clone3", "wait4",
                   "pipe2", "epoll_wait", "timerfd_create", "signalfd4", "eventfd2",
                   "getsockopt", "umask", "kill")


def unit_path(name):
    return os.path.join(krtest.repo_root(), "systemd", name)


def read(path):
    with open(path) as f:
        return f.read()


def directives(text):
    """[(section, key, value)] of a unit file, in order."""
    out, sec = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            sec = line[1:-1]
            continue
        k, _, v = line.partition("=")
        out.append((sec, k.strip(), v.strip()))
    return out


def values(d, section, key):
    return [v for s, k, v in d if s == section and k == key]


def stage(run, build):
    """A directory with the socket unit and the substituted service, a
    MANPATH with our pages, and the environment for systemd-analyze."""
    units = run.mkdir("units")
    shutil.copy(unit_path("keyroled.socket"), os.path.join(units, "keyroled.socket"))
    svc = read(unit_path("keyroled.service")).replace("@BINDIR@", build)
    with open(os.path.join(units, "keyroled.service"), "w") as f:
        f.write(svc)
    man = run.mkdir("man")
    for page in ("keyrole.1", "keyroled.8", "keyrole-config.5"):
        d = os.path.join(man, "man" + page[-1])
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(krtest.repo_root(), "man", page), d)
    env = krtest.clean_env({"HOME": run.mkdir("home"), "XDG_RUNTIME_DIR": run.mkdir("xdg"),
                            "MANPATH": man, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"})
    return units, env


def expand(group, cache={}):  # noqa: B006 - memo for the run
    """The system calls of a systemd-analyze syscall-filter group, recursively."""
    if group in cache:
        return cache[group]
    p = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                       text=True, timeout=30)
    names = set()
    for line in p.stdout.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        names |= expand(w) if w.startswith("@") else {w}
    cache[group] = names
    return names


def main(tap, run):
    for exe in ("systemd-analyze", "man"):
        if not shutil.which(exe, path=krtest.CALLER_ENV.get("PATH")):
            raise krtest.Skip("%s not installed (apt-get install systemd man-db)" % exe)
    sock = directives(read(unit_path("keyroled.socket")))
    svc = directives(read(unit_path("keyroled.service")))

    with tap.test("socket unit listens where keyrole looks, owner only"):
        tap.is_(values(sock, "Socket", "ListenStream"), ["%t/keyrole/agent.sock"],
                "ListenStream is $XDG_RUNTIME_DIR/keyrole/agent.sock")
        tap.is_(values(sock, "Socket", "SocketMode"), ["0600"], "SocketMode=0600")
        tap.is_(values(sock, "Socket", "DirectoryMode"), ["0700"], "DirectoryMode=0700")
        tap.is_(values(sock, "Install", "WantedBy"), ["sockets.target"],
                "WantedBy=sockets.target")

    with tap.test("service unit is a notify service with a watchdog"):
        tap.is_(values(svc, "Service", "Type"), ["notify"], "Type=notify")
        tap.is_(values(svc, "Service", "ExecStart"), ["@BINDIR@/keyroled"],
                "ExecStart=@BINDIR@/keyroled (no --socket: LISTEN_FDS wins)")
        wd = values(svc, "Service", "WatchdogSec")
        tap.ok(wd and re.fullmatch(r"[1-9][0-9]*", wd[0]), "WatchdogSec set", repr(wd))
        tap.is_(values(svc, "Service", "Restart"), ["on-failure"], "Restart=on-failure")
        tap.is_(values(svc, "Service", "LimitCORE"), ["0"], "LimitCORE=0")
        tap.is_(values(svc, "Service", "UMask"), ["0077"], "UMask=0077")

    with tap.test("sandbox keeps what keyroled needs"):
        tap.ok(not values(svc, "Service", "PrivateUsers"),
               "no PrivateUsers= (the user keyring is per user namespace)")
        tap.ok(values(svc, "Service", "KeyringMode") in ([], ["inherit"], ["shared"]),
               "KeyringMode keeps the user keyring reachable")
        tap.ok(not values(svc, "Service", "IPAddressDeny"), "no IPAddressDeny= (STS)")
        tap.ok(not values(svc, "Service", "PrivateNetwork"), "no PrivateNetwork= (STS)")
        fams = " ".join(values(svc, "Service", "RestrictAddressFamilies")).split()
        for fam in ("AF_UNIX", "AF_INET", "AF_INET6"):
            tap.ok(fam in fams, "RestrictAddressFamilies allows %s" % fam, repr(fams))
        tap.ok(values(svc, "Service", "ProtectHome") in (["read-only"], ["tmpfs"]) and
               values(svc, "Service", "ProtectHome") != ["yes"],
               "ProtectHome leaves ~/.aws readable")
        allowed, denied = set(), set()
        for v in values(svc, "Service", "SystemCallFilter"):
            deny = v.startswith("~")
            for w in v.lstrip("~").split():
                names = expand(w) if w.startswith("@") else {w}
                (denied if deny else allowed).update(names)
        tap.ok(allowed, "SystemCallFilter has an allow list")
        for sc in NEEDED_SYSCALLS:
            tap.ok(sc in allowed and sc not in denied, "SystemCallFilter allows %s" % sc)
        tap.is_(values(svc, "Service", "SystemCallErrorNumber"), ["EPERM"],
                "a filtered call fails with EPERM instead of killing a helper")

    with tap.test("systemd-analyze --user verify prints nothing"):
        build = krtest.build_dir()
        krtest.require_file(os.path.join(build, "keyroled"), "keyroled")
        units, env = stage(run, build)
        p = subprocess.run(["systemd-analyze", "--user", "verify",
                            os.path.join(units, "keyroled.socket"),
                            os.path.join(units, "keyroled.service")],
                           capture_output=True, text=True, env=env, timeout=60, cwd=units)
        out = (p.stdout + p.stderr).strip()
        tap.ok(p.returncode == 0 and out == "", "verify is silent (exit %d)" % p.returncode,
               out)

    with tap.test("systemd-analyze security: exposure %.1f or lower" % MAX_EXPOSURE):
        build = krtest.build_dir()
        krtest.require_file(os.path.join(build, "keyroled"), "keyroled")
        units, env = stage(run, build)
        for mode in (["--user"], []):
            p = subprocess.run(["systemd-analyze"] + mode + ["security", "--offline=true",
                                os.path.join(units, "keyroled.service")],
                               capture_output=True, text=True, env=env, timeout=60, cwd=units)
            m = re.search(r"Overall exposure level for keyroled\.service: ([0-9.]+)", p.stdout)
            label = "security %s" % (" ".join(mode) or "(system)")
            if not tap.ok(m, "%s prints an overall exposure" % label,
                          (p.stdout + p.stderr)[-2000:]):
                continue
            score = float(m.group(1))
            tap.ok(score <= MAX_EXPOSURE, "%s: exposure %.1f <= %.1f" % (label, score,
                                                                         MAX_EXPOSURE),
                   "\n".join(line for line in p.stdout.splitlines() if "\u2717" in line))


if __name__ == "__main__":
    krtest.main(main)
