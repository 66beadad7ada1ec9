"""make install / make uninstall: with DESTDIR and PREFIX=/usr everything
lands where a Debian user (and systemd, man, bash-completion, zsh) looks
for it, the service unit names the installed binary, the installed
completions work, and uninstall removes exactly what install put there.

The build itself is not this test's business: make runs with `-o all` and
B=$KR_BUILD, so it installs the binaries that are already built.
"""

import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

# Relative to DESTDIR, for PREFIX=/usr: path -> mode.
DEBIAN_LAYOUT = {
    "usr/bin/keyrole": 0o755,
    "usr/bin/keyroled": 0o755,
    "usr/lib/systemd/user/keyroled.socket": 0o644,
    "usr/lib/systemd/user/keyroled.service": 0o644,
    "usr/share/man/man1/keyrole.1": 0o644,
    "usr/share/man/man5/keyrole-config.5": 0o644,
    "usr/share/man/man8/keyroled.8": 0o644,
    "usr/share/bash-completion/completions/keyrole": 0o644,
    "usr/share/zsh/vendor-completions/_keyrole": 0o644,
}

PROFILES_CONFIG = """\
[default]
region = us-east-1

[profile dev]
role_arn = arn:aws:iam::123456789012:role/dev
source_profile = default

[ profile  prod-admin ]
role_arn = arn:aws:iam::123456789012:role/prod-admin
source_profile = dev

[services local]
sts =
  endpoint_url = http://127.0.0.1:1

[sso-session corp]
sso_region = us-east-1
"""
PROFILES = ["default", "dev", "prod-admin"]
COMMANDS = ["add", "check", "console", "env", "exec", "forget", "get", "help", "login", "logout",
            "remove", "sso", "status", "version", "wrap"]


def make(args, timeout=300):
    argv = ["make", "--no-print-directory", "-C", krtest.repo_root(), "-o", "all",
            "B=" + krtest.build_dir()] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=krtest.clean_env())


def files_under(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def bash_complete(compfile, words, config):
    """COMPREPLY of the installed bash completion for words (last = current)."""
    script = (
        'source "$1"; shift\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n'
        'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}\n'
        'COMPREPLY=(); _keyrole keyrole "${COMP_WORDS[COMP_CWORD]}" '
        '"${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n')
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", compfile]
                       + list(words), capture_output=True, text=True, timeout=30,
                       env=krtest.clean_env({"AWS_CONFIG_FILE": config, "HOME": "/nonexistent"}))
    if p.returncode != 0:
        raise RuntimeError("bash completion failed: " + p.stderr)
    return sorted(w for w in p.stdout.splitlines() if w)


# Drives an interactive zsh in a pseudo-terminal, presses TAB after the
# line, and prints every match that the completion system adds.
ZSH_CAPTURE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1=''; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'compadd() { local -a __h; builtin compadd -O __h "$@"; (( $#__h )) && print -rl -- "<<${^__h[@]}>>"; builtin compadd "$@" }'
zpty -w z 'LISTMAX=100000; print -r -- READY'
zpty -r -m z out '*READY*'
zpty -w -n z "$2"$'\t'
sleep 1
zpty -w -n z $'\C-u''print -r -- DONE'$'\n'
out=""
integer n=0
while (( n++ < 100000 )) && zpty -r -t z line; do out+=$line; [[ $out == *DONE*DONE* ]] && break; done
print -r -- "$out" | tr -d '\r' | grep -o '<<[^>]*>>' | sort -u
zpty -d z
"""


def zsh_complete(run, fpath_dir, line, config):
    script = run.path("zsh-capture.zsh")
    with open(script, "w") as f:
        f.write(ZSH_CAPTURE)
    p = subprocess.run(["zsh", "-f", script, fpath_dir, line], capture_output=True, text=True,
                       timeout=60, env=krtest.clean_env({"AWS_CONFIG_FILE": config,
                                                        "HOME": run.mkdir("zsh-home"),
                                                        "TERM": "dumb"}))
    return sorted(m[2:-2] for m in p.stdout.split())


def main(tap, run):
    for exe in ("make", "install", "sed"):
        if not shutil.which(exe, path=krtest.CALLER_ENV.get("PATH")):
            raise krtest.Skip("%s not installed (apt-get install build-essential)" % exe)
    krtest.require_file(krtest.keyrole(), "keyrole")
    krtest.require_file(krtest.keyroled(), "keyroled")
    dest = run.mkdir("dest")
    config = run.path("aws-config")
    with open(config, "w") as f:
        f.write(PROFILES_CONFIG)

    with tap.test("make install DESTDIR PREFIX=/usr puts files where Debian expects them"):
        p = make(["install", "DESTDIR=" + dest, "PREFIX=/usr"])
        tap.ok(p.returncode == 0, "make install exits 0", p.stdout[-2000:] + p.stderr[-2000:])
        got = files_under(dest)
        tap.is_(sorted(got), sorted(DEBIAN_LAYOUT), "installed exactly the expected files")
        for rel, mode in sorted(DEBIAN_LAYOUT.items()):
            path = os.path.join(dest, rel)
            if os.path.exists(path):
                tap.is_(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(mode),
                        "%s has mode %o" % (rel, mode))
        for name in ("keyrole", "keyroled"):
            with open(os.path.join(dest, "usr/bin", name), "rb") as a, \
                    open(os.path.join(krtest.build_dir(), name), "rb") as b:
                tap.ok(a.read() == b.read(), "usr/bin/%s is the built binary" % name)
        pc = subprocess.run(["pkg-config", "--variable=systemduserunitdir", "systemd"],
                            capture_output=True, text=True, timeout=30)
        if pc.returncode == 0 and pc.stdout.strip():
            tap.is_(pc.stdout.strip(), "/usr/lib/systemd/user",
                    "units went to systemd's own systemduserunitdir")

    with tap.test("installed service unit runs the installed keyroled"):
        svc_path = os.path.join(dest, "usr/lib/systemd/user/keyroled.service")
        with open(svc_path) as f:
            svc = f.read()
        tap.ok("@BINDIR@" not in svc, "no @BINDIR@ left")
        tap.is_(re.findall(r"^ExecStart=(.*)$", svc, re.M), ["/usr/bin/keyroled"],
                "ExecStart=/usr/bin/keyroled")
        with open(os.path.join(krtest.repo_root(), "systemd", "keyroled.service")) as f:
            src = f.read()
        tap.ok(svc == src.replace("ExecStart=@BINDIR@/", "ExecStart=/usr/bin/"),
               "otherwise identical to systemd/keyroled.service, comments included")
        with open(os.path.join(dest, "usr/lib/systemd/user/keyroled.socket")) as f, \
                open(os.path.join(krtest.repo_root(), "systemd", "keyroled.socket")) as g:
            tap.ok(f.read() == g.read(), "keyroled.socket installed unchanged")

    with tap.test("man finds the installed pages"):
        if not shutil.which("man", path=krtest.CALLER_ENV.get("PATH")):
            raise krtest.Skip("man-db not installed")
        mandir = os.path.join(dest, "usr/share/man")
        for page, sec in (("keyrole", "1"), ("keyrole-config", "5"), ("keyroled", "8")):
            p = subprocess.run(["man", "-w", sec, page], capture_output=True, text=True,
                               timeout=30, env=krtest.clean_env({"MANPATH": mandir}))
            tap.is_(p.stdout.strip(), os.path.join(mandir, "man" + sec, page + "." + sec),
                    "man -w %s %s" % (sec, page))

    with tap.test("installed bash completion completes commands, options and profiles"):
        comp = os.path.join(dest, "usr/share/bash-completion/completions/keyrole")
        tap.is_(bash_complete(comp, ["keyrole", ""], config), COMMANDS, "commands")
        tap.is_(bash_complete(comp, ["keyrole", "get", ""], config), PROFILES,
                "profiles of AWS_CONFIG_FILE ([profile NAME] and [default])")
        tap.is_(bash_complete(comp, ["keyrole", "check", "pr"], config), ["prod-admin"],
                "profile prefix")
        tap.is_(bash_complete(comp, ["keyrole", "exec", "dev", "--"], config),
                ["--force", "--help", "--mfa-code", "--no-autostart", "--no-server", "--region",
                 "--server"],
                "exec options")
        tap.is_(bash_complete(comp, ["keyrole", "env", "dev", "--format", ""], config),
                ["dotenv", "fish", "json", "powershell", "sh"], "env --format: the formats")
        tap.is_(bash_complete(comp, ["keyrole", "env", "--format", "fish", ""], config), PROFILES,
                "env --format FORMAT, then the profile")
        tap.is_(bash_complete(comp, ["keyrole", "forget", "--"], config),
                ["--all", "--help", "--no-autostart"], "forget options")
        tap.is_(bash_complete(comp, ["keyrole", "wrap", "--"], config),
                ["--all", "--as", "--help", "--no-autostart", "--write"], "wrap options")
        tap.is_(bash_complete(comp, ["keyrole", "add", "--m"], config), ["--move"],
                "add --move")
        tap.is_(bash_complete(comp, ["keyrole", "help", ""], config), COMMANDS,
                "help takes a command")
        tap.is_(bash_complete(comp, ["keyrole", "get", ""], run.path("missing")), [],
                "no config file: no profiles, no error")
        tap.is_(bash_complete(comp, ["keyrole", "login", ""], config), ["corp"],
                "login takes an [sso-session NAME]")
        tap.is_(bash_complete(comp, ["keyrole", "login", "--profile", "p"], config),
                ["prod-admin"], "login --profile takes a profile")
        tap.is_(bash_complete(comp, ["keyrole", "login", "--"], config),
                ["--force", "--help", "--no-autostart", "--no-browser", "--profile"],
                "login options")
        tap.is_(bash_complete(comp, ["keyrole", "console", "dev", "--"], config),
                ["--destination", "--duration", "--help", "--mfa-code", "--no-autostart",
                 "--print"], "console options")
        tap.is_(bash_complete(comp, ["keyrole", "console", ""], config), PROFILES,
                "console takes a profile")
        tap.is_(bash_complete(comp, ["keyrole", "sso", ""], config), ["profiles"],
                "sso takes 'profiles'")
        tap.is_(bash_complete(comp, ["keyrole", "sso", "profiles", ""], config), ["corp"],
                "then a session")

    with tap.test("installed zsh completion completes commands, options and profiles"):
        if not shutil.which("zsh", path=krtest.CALLER_ENV.get("PATH")):
            raise krtest.Skip("zsh not installed (apt-get install zsh)")
        fp = os.path.join(dest, "usr/share/zsh/vendor-completions")
        p = subprocess.run(["zsh", "-n", os.path.join(fp, "_keyrole")], capture_output=True,
                           text=True, timeout=30)
        tap.ok(p.returncode == 0 and not p.stderr, "zsh -n accepts _keyrole", p.stderr)
        tap.is_(zsh_complete(run, fp, "keyrole ", config), COMMANDS, "commands")
        tap.is_(zsh_complete(run, fp, "keyrole get ", config), PROFILES, "profiles")
        tap.is_(zsh_complete(run, fp, "keyrole status --", config),
                ["--help", "--json", "--no-autostart"], "status options")
        tap.is_(zsh_complete(run, fp, "keyrole wrap ", config), PROFILES, "wrap: profiles")
        tap.ok("--force" in zsh_complete(run, fp, "keyrole exec dev --f", config),
               "exec options after PROFILE")
        tap.is_(zsh_complete(run, fp, "keyrole env dev --format ", config),
                ["dotenv", "fish", "json", "powershell", "sh"], "env --format: the formats")
        tap.is_(zsh_complete(run, fp, "keyrole login ", config), ["corp"], "login: sessions")
        tap.is_(zsh_complete(run, fp, "keyrole sso ", config), ["profiles"], "sso profiles")
        tap.is_(zsh_complete(run, fp, "keyrole console ", config), PROFILES,
                "console: profiles")

    with tap.test("PREFIX=/usr/local: the zsh completion lands on zsh's own fpath"):
        if not shutil.which("zsh", path=krtest.CALLER_ENV.get("PATH")):
            raise krtest.Skip("zsh not installed (apt-get install zsh)")
        local = run.mkdir("dest-zsh")
        p = make(["install", "DESTDIR=" + local, "PREFIX=/usr/local"])
        tap.ok(p.returncode == 0, "make install exits 0", p.stderr[-2000:])
        comp = [rel for rel in files_under(local) if rel.endswith("/_keyrole")]
        z = subprocess.run(["zsh", "-f", "-c", "print -rl -- $fpath"], capture_output=True,
                           text=True, timeout=30)
        fpath = z.stdout.split()
        tap.ok(len(comp) == 1 and os.path.dirname("/" + comp[0]) in fpath,
               "/%s is on zsh's fpath" % (comp[0] if comp else "?"), fpath)

    with tap.test("make uninstall removes exactly what install put there"):
        keep = os.path.join(dest, "usr/share/man/man1/other.1")
        with open(keep, "w") as f:
            f.write(".Dd\n")
        p = make(["uninstall", "DESTDIR=" + dest, "PREFIX=/usr"])
        tap.ok(p.returncode == 0, "make uninstall exits 0", p.stderr[-2000:])
        tap.is_(sorted(files_under(dest)), ["usr/share/man/man1/other.1"],
                "only the file that was not ours is left")

    with tap.test("default PREFIX is /usr/local, units in /usr/local/lib/systemd/user"):
        dest2 = run.mkdir("dest-local")
        p = make(["install", "DESTDIR=" + dest2])
        tap.ok(p.returncode == 0, "make install exits 0", p.stderr[-2000:])
        want = sorted(re.sub(r"^usr/", "usr/local/", k).replace("zsh/vendor-completions",
                                                                 "zsh/site-functions")
                      for k in DEBIAN_LAYOUT)
        tap.is_(sorted(files_under(dest2)), want, "everything under /usr/local")
        with open(os.path.join(dest2, "usr/local/lib/systemd/user/keyroled.service")) as f:
            tap.ok("ExecStart=/usr/local/bin/keyroled\n" in f.read(),
                   "ExecStart=/usr/local/bin/keyroled")
        p = make(["uninstall", "DESTDIR=" + dest2])
        tap.is_(sorted(files_under(dest2)), [], "uninstall leaves no file")


if __name__ == "__main__":
    krtest.main(main)
