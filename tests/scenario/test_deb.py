#!/usr/bin/env python3
"""The Debian package: `make deb` builds build/keyrole_VERSION_ARCH.deb from a
copy of the tree (the tree's git status is unchanged); dpkg-deb -c and -I
show the files where Debian puts them and dependencies from dpkg-shlibdeps;
lintian reports no error or warning; the package installs on this machine
with apt-get, /usr/bin/keyrole --version answers, systemd-analyze verify is
silent on the installed units, keyroled.socket is enabled for every user
(/etc/systemd/user/sockets.target.wants), and a purge leaves nothing of it
behind.

Installing needs root on a throwaway machine, as CI is: the test fails,
saying why, when not root, and refuses (fails) rather than replace a keyrole
package that is already installed. Under SANITIZE=1 it builds and tests the
same, normal package again (the package is never the sanitizer build).
"""

import glob
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
sys.path.insert(0, HERE)
import krtest  # noqa: E402
from test_install import DEBIAN_LAYOUT  # noqa: E402

# path in the package -> mode (directories are not listed): make install's
# Debian layout (test_install.py), man pages compressed, and Debian's own files.
FILES = {(p + ".gz" if "/man/man" in p else p): m for p, m in DEBIAN_LAYOUT.items()}
FILES.update({"usr/share/doc/keyrole/changelog.gz": 0o644,
              "usr/share/doc/keyrole/copyright": 0o644,
              "usr/share/lintian/overrides/keyrole": 0o644})
# Libraries keyroled links, whose packages dpkg-shlibdeps must have found.
SHLIBS = ("libc6", "libcurl4", "libssl3", "libcjson1", "libexpat1", "libsystemd0",
          "libsecret-1-0", "libkeyutils1")
ENABLE_LINK = "/etc/systemd/user/sockets.target.wants/keyroled.socket"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
APT_OPTS = ["-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]


def sh(argv, env=None, timeout=120, cwd="/"):
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, timeout=timeout,
                       cwd=cwd, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def makefile_version(root):
    with open(os.path.join(root, "Makefile")) as f:
        return re.search(r"^VERSION\s*:=\s*(\S+)", f.read(), re.M).group(1)


def installed(pkg="keyrole"):
    rc, out, _ = sh(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg])
    return rc == 0 and out.strip() not in ("", "not-installed", "config-files") and out.strip()


def enable_state():
    """Every path under the directories where units are enabled for users."""
    out = set()
    for top in ["/etc/systemd/user"] + glob.glob("/var/lib/systemd/deb-systemd-user-helper-*"):
        for d, dirs, files in os.walk(top):
            out.update(os.path.join(d, n) for n in dirs + files)
        out.add(top)
    return out


def purge(tap=None):
    if installed() or sh(["dpkg-query", "-W", "keyrole"])[0] == 0:
        rc, out, err = sh(["apt-get", "purge"] + APT_OPTS + ["keyrole"], APT_ENV, timeout=600)
        if tap:
            tap.is_(rc, 0, "apt-get purge keyrole exits 0", (out + err)[-1500:])


def main(tap, run):
    root = krtest.repo_root()
    version = makefile_version(root)
    for exe in ("dpkg-buildpackage", "lintian", "dh", "apt-get", "systemd-analyze", "git"):
        if not shutil.which(exe, path=krtest.CALLER_ENV.get("PATH")):
            tap.ok(False, "%s is installed" % exe,
                   "apt-get install debhelper dpkg-dev lintian systemd git (make deps)")
            return
    if os.geteuid() != 0:
        tap.ok(False, "running as root", "the test installs the package on this machine: "
               "run make check as root on a throwaway machine (as CI does)")
        return
    have = installed()
    if have:
        tap.ok(False, "no keyrole package is installed yet",
               "keyrole is %s here (dpkg-query -W keyrole): the test would replace it; "
               "remove it first (apt-get purge keyrole)" % have)
        return

    deb = None
    with tap.test("make deb builds the package and leaves the tree as it was"):
        git = ["git", "-c", "safe.directory=" + root, "-C", root, "status", "--porcelain"]
        rc, before, err = sh(git)
        tap.is_(rc, 0, "git status works in %s" % root, err.strip())
        env = {"HOME": run.mkdir("home")}
        rc, out, err = sh(["make", "-C", root, "deb"], env, timeout=1200)
        tap.is_(rc, 0, "make deb exits 0", (out + err)[-3000:])
        arch = sh(["dpkg", "--print-architecture"])[1].strip()
        deb = os.path.join(root, "build", "keyrole_%s_%s.deb" % (version, arch))
        if not tap.ok(os.path.isfile(deb), "%s exists" % os.path.relpath(deb, root)):
            deb = None
        _, after, _ = sh(git)
        tap.is_(after, before, "git status is unchanged")
        left = [p for p in (".build", "keyrole", "files", ".debhelper", "debhelper-build-stamp")
                if os.path.lexists(os.path.join(root, "debian", p))]
        tap.is_(left, [], "no build products in the tree's debian/")
    if not deb:
        return

    with tap.test("dpkg-deb -c: the files where Debian puts them"):
        rc, out, err = sh(["dpkg-deb", "-c", deb])
        tap.is_(rc, 0, "dpkg-deb -c exits 0", err)
        files = {}
        for line in out.splitlines():
            f = line.split()
            if not f or f[0].startswith("d"):
                continue
            mode = 0
            for c in f[0][1:10]:  # rwxr-xr-x -> 0o755
                mode = mode << 1 | (c != "-")
            files[f[-1][2:] if f[-1].startswith("./") else f[-1]] = mode
            tap.is_(f[1], "root/root", "%s is root's" % f[-1])
        tap.is_(sorted(files), sorted(FILES), "exactly the expected files")
        for p, m in FILES.items():
            if p in files:
                tap.is_(oct(files[p]), oct(m), "%s mode %o" % (p, m))

    with tap.test("dpkg-deb -I: version, dependencies from dpkg-shlibdeps, scripts"):
        rc, out, err = sh(["dpkg-deb", "-I", deb])
        tap.is_(rc, 0, "dpkg-deb -I exits 0", err)
        fields = dict(re.findall(r"^ ([A-Za-z-]+): (.*)$", out, re.M))
        tap.is_(fields.get("Package"), "keyrole", "Package: keyrole")
        tap.is_(fields.get("Version"), version, "Version is the Makefile's")
        deps = [d.split()[0] for d in fields.get("Depends", "").split(", ")]
        for lib in SHLIBS:
            tap.ok(lib in deps, "Depends names %s" % lib, fields.get("Depends"))
        tap.ok(re.search(r"\bpostinst\b", out) and re.search(r"\bpostrm\b", out),
               "postinst and postrm (the user unit's enable/disable)", out)
        rc, script, _ = sh(["dpkg-deb", "-I", deb, "postinst"])
        tap.ok("deb-systemd-helper --user" in script and "keyroled.socket" in script,
               "postinst enables keyroled.socket for users", script[-800:])

    with tap.test("lintian: no error or warning"):
        rc, out, err = sh(["lintian", "--fail-on", "error,warning", deb], timeout=600)
        tags = [line for line in out.splitlines() if re.match(r"[EW]: ", line)]
        tap.ok(rc == 0 and not tags, "lintian %s: exit 0, no E:/W: tags" % os.path.basename(deb),
               (out + err)[-2000:])

    state_before = enable_state()
    run.add_cleanup(purge)
    with tap.test("the package installs with apt-get and works"):
        rc, out, err = sh(["apt-get", "install"] + APT_OPTS + [deb], APT_ENV, timeout=600)
        if not tap.is_(rc, 0, "apt-get install ./%s exits 0" % os.path.basename(deb),
                       (out + err)[-2000:]):
            return
        tap.is_(installed(), "installed", "dpkg says installed")
        home, xdg = run.mkdir("uhome"), run.mkdir("uxdg")
        uenv = {"HOME": home, "XDG_RUNTIME_DIR": xdg, "KEYROLE_NO_AUTOSTART": "1"}
        rc, out, err = sh(["/usr/bin/keyrole", "--version"], uenv)
        tap.ok(rc == 0 and out.startswith("keyrole %s\n" % version),
               "/usr/bin/keyrole --version: keyrole %s" % version, (rc, out, err))
        rc, out, err = sh(["/usr/bin/keyroled", "--version"], uenv)
        tap.ok(rc == 0 and out.startswith("keyroled %s " % version),
               "/usr/bin/keyroled --version: keyroled %s" % version, (rc, out, err))
        rc, out, err = sh(["man", "-w", "keyrole-config"], uenv)
        tap.is_(out.strip(), "/usr/share/man/man5/keyrole-config.5.gz", "man finds the pages",
                err)

    with tap.test("systemd-analyze verify: the installed units"):
        units = ["/usr/lib/systemd/user/keyroled.socket", "/usr/lib/systemd/user/keyroled.service"]
        with open(units[1]) as f:
            tap.ok(re.search(r"^ExecStart=/usr/bin/keyroled$", f.read(), re.M),
                   "ExecStart=/usr/bin/keyroled")
        # No systemd PID 1 here: verify reads the files offline, as test_units.py does.
        rc, out, err = sh(["systemd-analyze", "--user", "verify"] + units,
                          {"HOME": run.mkdir("vhome"), "XDG_RUNTIME_DIR": run.mkdir("vxdg"),
                           "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}, timeout=60)
        tap.ok(rc == 0 and not (out + err).strip(), "verify is silent (exit %d)" % rc,
               (out + err).strip())

    with tap.test("keyroled.socket is enabled for every user, the service is not"):
        tap.is_(os.path.realpath(ENABLE_LINK) if os.path.islink(ENABLE_LINK) else None,
                "/usr/lib/systemd/user/keyroled.socket", "%s links to the unit" % ENABLE_LINK)
        tap.ok(not glob.glob("/etc/systemd/user/*.wants/keyroled.service"),
               "no enable link of keyroled.service")

    with tap.test("purge leaves nothing behind"):
        rc, out, _ = sh(["dpkg", "-L", "keyrole"])
        paths = [p for p in out.splitlines() if p.startswith("/")]
        tap.ok(rc == 0 and "/usr/bin/keyrole" in paths, "dpkg -L lists the files",
               out[-500:])
        ours = [p for p in paths if not os.path.isdir(p) or p.endswith("/doc/keyrole")]
        purge(tap)
        tap.is_(sh(["dpkg-query", "-W", "keyrole"])[0], 1, "dpkg no longer knows keyrole")
        left = [p for p in ours if os.path.lexists(p)]
        tap.is_(left, [], "none of the package's files is left")
        tap.ok(not os.path.lexists(ENABLE_LINK), "the global enable link is gone")
        tap.is_(sorted(enable_state() - state_before), [],
                "nothing new in /etc/systemd/user or deb-systemd-helper's user state")


if __name__ == "__main__":
    krtest.main(main)
