"""The man pages: clean under mandoc -Tlint, and they document what the
programs say they do (every subcommand, option, exit status and environment
variable of `keyrole --help`, `keyrole CMD --help` and `keyroled --help`,
and every ~/.aws/config key that the resolver and the sources read).

mandoc -Tlint reports two things that are facts about the machine, not the
page, and only those are tolerated: "outdated mandoc.db lacks X entry"
(Debian ships gzipped pages and no mandoc.db) and "referenced manual not
found" for our own pages (they are not installed while the tests run). A
lint at -W warning (everything but style hints) must print nothing at all.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

PAGES = {"keyrole.1": ("keyrole", "1"), "keyroled.8": ("keyroled", "8"),
         "keyrole-config.5": ("keyrole-config", "5")}
OWN = {(n, s) for n, s in PAGES.values()}


def man_path(name):
    return os.path.join(krtest.repo_root(), "man", name)


def render(name):
    """The page as plain text (overstrike and hyphenation-free, wide)."""
    p = subprocess.run(["mandoc", "-Tascii", "-O", "width=1000", man_path(name)],
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("mandoc -Tascii %s failed: %s" % (name, p.stderr.decode()))
    text = p.stdout.decode("utf-8", "replace")
    return re.sub(r".\x08", "", text)


def section(text, title):
    """The body of the section whose heading is exactly title."""
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z -]+\n|\Z)" % re.escape(title), text, re.S | re.M)
    return m.group(1) if m else ""


def help_text(argv):
    p = subprocess.run(argv, capture_output=True, timeout=10, env=krtest.clean_env())
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (argv, p.returncode, p.stderr.decode()))
    return p.stdout.decode()


def options_in(text):
    """Every -x / --long-option token of a help text."""
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])", text)))


def commands_of(main_help):
    """The command names listed under "Commands:" in keyrole --help."""
    body = main_help.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z]+)\b", body, re.M)]


def synopsis_lines(text, prog):
    """SYNOPSIS entries of prog, one string per invocation (joined continuations)."""
    syn = section(text, "SYNOPSIS")
    out = []
    for line in syn.splitlines():
        if line.strip().startswith(prog + " ") or line.strip() == prog:
            out.append(line.strip())
        elif out and line.strip():
            out[-1] += " " + line.strip()
    return out


def main(tap, run):
    if not shutil.which("mandoc"):
        raise krtest.Skip("mandoc not installed (apt-get install mandoc; tests/deps.sh does)")
    texts = {}

    for page, (name, sec) in sorted(PAGES.items()):
        with tap.test("%s is clean under mandoc -Tlint" % page):
            path = man_path(page)
            tap.ok(os.path.isfile(path), "%s exists" % page)
            p = subprocess.run(["mandoc", "-Tlint", path], capture_output=True, timeout=30)
            bad = []
            for line in (p.stdout + p.stderr).decode().splitlines():
                if re.search(r"outdated mandoc\.db lacks .* entry", line):
                    continue
                m = re.search(r"referenced manual not found: Xr (\S+) (\S+)", line)
                if m and (m.group(1), m.group(2)) in OWN:
                    continue
                bad.append(line)
            tap.ok(not bad, "%s: no lint messages" % page, "\n".join(bad))
            p = subprocess.run(["mandoc", "-Tlint", "-W", "warning", path],
                               capture_output=True, timeout=30)
            out = (p.stdout + p.stderr).decode().strip()
            tap.ok(p.returncode == 0 and out == "", "%s: nothing at -W warning" % page, out)
            with open(path) as f:
                src = f.read()
            tap.ok(re.search(r"^\.Dt %s %s$" % (re.escape(name.upper()), sec), src, re.M),
                   "%s: .Dt names %s(%s)" % (page, name, sec))
            texts[page] = render(page)

    with tap.test("cross references between the pages name pages we ship"):
        for page in PAGES:
            with open(man_path(page)) as f:
                for m in re.finditer(r"^\.Xr (keyrole\S*) (\S+)", f.read(), re.M):
                    tap.ok((m.group(1), m.group(2)) in OWN,
                           "%s: Xr %s %s is one of ours" % (page, m.group(1), m.group(2)))

    k1 = texts.get("keyrole.1", "")
    k8 = texts.get("keyroled.8", "")
    k5 = texts.get("keyrole-config.5", "")

    with tap.test("keyrole(1) documents every subcommand and option of keyrole --help"):
        exe = krtest.require_file(krtest.keyrole(), "keyrole")
        main_help = help_text([exe, "--help"])
        cmds = commands_of(main_help)
        tap.ok(len(cmds) >= 10, "keyrole --help lists the commands", repr(cmds))
        syn = synopsis_lines(k1, "keyrole")
        desc = section(k1, "DESCRIPTION")
        for c in cmds:
            lines = [s for s in syn if s.split()[1:2] == [c]]
            tap.ok(lines, "SYNOPSIS has 'keyrole %s'" % c, "\n".join(syn))
            tap.ok(re.search(r"^ {5}%s\b" % re.escape(c), desc, re.M),
                   "DESCRIPTION describes '%s'" % c)
            sub = help_text([exe, c, "--help"])
            for opt in options_in(sub.split("Options:", 1)[-1] if "Options:" in sub else sub):
                if opt in ("-h", "--help"):
                    tap.ok(re.search(r"-h, --help", k1), "keyrole(1) has -h, --help")
                    continue
                tap.ok(any(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), s)
                           for s in lines),
                       "SYNOPSIS of '%s' has %s" % (c, opt))
                tap.ok(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), desc),
                       "DESCRIPTION mentions %s" % opt)
        for opt in options_in(main_help):
            if opt.startswith("--"):
                tap.ok(opt in k1, "keyrole(1) has %s (from keyrole --help)" % opt)

    with tap.test("keyrole(1) copies the exit statuses and environment of keyrole --help"):
        exe = krtest.require_file(krtest.keyrole(), "keyrole")
        main_help = help_text([exe, "--help"])
        codes = re.findall(r"^  (\d+) ", main_help.split("Exit status:", 1)[1], re.M)
        exit_sec = section(k1, "EXIT STATUS")
        for code in codes:
            tap.ok(re.search(r"^ {5}%s\s" % code, exit_sec, re.M),
                   "EXIT STATUS lists %s" % code)
        man_codes = re.findall(r"^ {5}(\d+)\s", exit_sec, re.M)
        tap.is_(sorted(man_codes, key=int), sorted(codes, key=int),
                "EXIT STATUS has exactly the codes of keyrole --help")
        env_sec = section(k1, "ENVIRONMENT")
        env_help = main_help.split("Environment:", 1)[1].split("\n\n", 1)[0]
        for var in sorted(set(re.findall(r"\b(?:KEYROLE|AWS)_[A-Z0-9_]+|\bHOME\b", env_help))):
            tap.ok(re.search(r"\b%s\b" % var, env_sec), "ENVIRONMENT has %s" % var)

    with tap.test("keyroled(8) documents every option of keyroled --help"):
        exe = krtest.require_file(krtest.keyroled(), "keyroled")
        h = help_text([exe, "--help"])
        opts = options_in(h)
        tap.ok("--socket" in opts and "--config" in opts, "keyroled --help lists options",
               repr(opts))
        syn = " ".join(synopsis_lines(k8, "keyroled"))
        body = section(k8, "OPTIONS")
        for opt in opts:
            tap.ok(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), syn),
                   "keyroled(8) SYNOPSIS has %s" % opt)
            tap.ok(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), body),
                   "keyroled(8) OPTIONS has %s" % opt)
        for backend in ("auto", "secret-service", "keyctl", "memory"):
            tap.ok(re.search(r"^ {5}%s\b" % backend, section(k8, "CACHE BACKENDS"), re.M),
                   "CACHE BACKENDS describes %s" % backend)

    with tap.test("keyrole-config(5) documents every keyroled.conf key"):
        exe = krtest.require_file(krtest.keyroled(), "keyroled")
        h = help_text([exe, "--help"])
        conf = section(k5, "KEYROLED.CONF")
        # Settings-file keys are the long options that take a value, minus
        # the ones that only make sense on a command line.
        keys = [o[2:] for o in options_in(h) if o.startswith("--")
                and o not in ("--help", "--version", "--socket", "--config")]
        tap.ok(keys, "keyroled --help has settings", repr(keys))
        for k in keys:
            tap.ok(re.search(r"^ {5}%s = " % re.escape(k), conf, re.M),
                   "KEYROLED.CONF describes %s" % k)

    with tap.test("keyrole-config(5) documents every config key the resolver and sources read"):
        daemon = os.path.join(krtest.repo_root(), "daemon")
        src = ""
        for name in sorted(os.listdir(daemon)):
            if name in ("resolve.c", "sources.c", "pmap.c", "endpoint.c", "sso_where.c") or \
                    re.match(r"source_\w+\.c$", name):
                with open(os.path.join(daemon, name)) as f:
                    src += f.read()
        keys = set(re.findall(
            r"\b(?:pmap_get|pmap_take_opt|ini_get|has)\([^;]*?\"([a-z_]+)\"", src))
        keys |= set(re.findall(r"\{&source_\w+, \"([a-z_]+)\"", src))  # the table's rows
        keys -= {"default", "profile", "services_sts"}
        tap.ok(len(keys) >= 15, "found the keys the resolver reads", repr(sorted(keys)))
        for k in sorted(keys):
            tap.ok(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(k), k5),
                   "keyrole-config(5) mentions %s" % k)
        for k in ("role_arn", "source_profile", "role_session_name", "duration_seconds",
                  "credential_process", "mfa_serial", "region"):
            tap.ok(re.search(r"^ {5}%s\b" % k, section(k5, "PROFILE KEYS"), re.M),
                   "PROFILE KEYS has an entry for %s" % k)

    with tap.test("the credential_process trap is explained"):
        for page, text in (("keyrole.1", k1), ("keyrole-config.5", k5)):
            flat = " ".join(text.split())
            tap.ok("role_arn" in flat and "credential_process" in flat
                   and re.search(r"different profile|Keep the chain in one profile", flat),
                   "%s explains role_arn + credential_process in one profile" % page)


if __name__ == "__main__":
    krtest.main(main)
