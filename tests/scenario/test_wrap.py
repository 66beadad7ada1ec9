"""keyrole wrap writes the tool profile of a chain profile: printed by
default (credential_process with this keyrole's absolute path, the region
carried over, the name without "-chain" or with "-keyrole"), added to the
config file with --write (atomically: every other byte kept, the same
mode, a symlinked file edited where it is, no temporary file left), refused
when the name is taken, and with --all for every chain profile that has no
tool profile yet. The written profile works with get."""

import os
import stat
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

CFG = """# my settings; keep this comment
[default]
region = eu-west-1

[profile dev]
region = eu-west-1
output = json

[profile prod-chain]
role_arn = %(prod)s
source_profile = dev
role_session_name = kr-test
region = eu-central-1

[profile ops]
role_arn = %(ops)s
source_profile = dev
role_session_name = kr-test

[profile taken-chain]
role_arn = %(prod)s
source_profile = dev

[profile taken]
output = text

[profile old]
credential_process = keyrole get ops
# no newline at the end"""


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto)
    home = run.home()
    text = CFG % {"prod": seed["roles"]["prod"], "ops": seed["roles"]["ops"]}
    creds = "[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
        seed["access_key_id"], seed["secret_access_key"])
    # The config lives elsewhere and ~/.aws/config is a symlink to it (a dotfiles repo).
    cfg_path, _ = krtest.write_aws_config(home, "", creds)
    real = os.path.join(home, "dotfiles-config")
    with open(real, "w") as f:
        f.write(text)
    os.chmod(real, 0o640)
    os.unlink(cfg_path)
    os.symlink(real, cfg_path)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})
    kr = krtest.keyrole()

    def k(*args):
        return krtest.run_client(list(args), env=env)

    with tap.test("wrap prints the tool profile"):
        p = k("wrap", "prod-chain")
        tap.is_(p.returncode, 0, "wrap prod-chain", p.stderr)
        tap.is_(p.stdout, "[profile prod]\ncredential_process = %s get prod-chain\n"
                "region = eu-central-1\n" % kr, "the section: name, absolute path, region")
        p = k("wrap", "ops")
        tap.ok(p.stdout.startswith("[profile ops-keyrole]\n") and "region" not in p.stdout,
               "without -chain the name gets -keyrole; no region, none written", p.stdout)
        p = k("wrap", "ops", "--as", "operations")
        tap.ok(p.stdout.startswith("[profile operations]\n"), "--as names it", p.stdout)
        with open(real) as f:
            tap.is_(f.read(), text, "printing changes nothing")

    with tap.test("wrap refuses what it cannot wrap"):
        p = k("wrap", "taken-chain")
        tap.is_(p.returncode, 4, "a taken name is refused", p.stderr)
        tap.ok('a profile "taken" exists already' in p.stderr and "--as" in p.stderr,
               "it says so and how to name another", p.stderr)
        p = k("wrap", "prod-chian")
        tap.ok(p.returncode == 4 and 'did you mean "prod-chain"?' in p.stderr,
               "an unknown profile gets a did-you-mean", p.stderr)
        p = k("wrap", "old")
        tap.ok(p.returncode == 4 and "is a tool profile already" in p.stderr,
               "a tool profile is not wrapped again", p.stderr)
        p = k("wrap", "--all", "--as", "x")
        tap.is_(p.returncode, 2, "--as with --all is a usage error", p.stderr)
        p = k("wrap")
        tap.is_(p.returncode, 2, "neither PROFILE nor --all is a usage error", p.stderr)

    with tap.test("wrap --write adds the section atomically"):
        p = k("wrap", "prod-chain", "--write")
        tap.is_(p.returncode, 0, "wrap prod-chain --write", p.stderr)
        tap.ok("added profile prod" in p.stdout, "it says what it added", p.stdout)
        tap.ok(os.path.islink(cfg_path), "the symlink is kept")
        with open(real) as f:
            now = f.read()
        tap.ok(now.startswith(text + "\n"), "every byte before is kept", now)
        tap.is_(now[len(text):], "\n\n[profile prod]\ncredential_process = %s get prod-chain\n"
                "region = eu-central-1\n" % kr, "the section is appended after a blank line")
        tap.is_(stat.S_IMODE(os.stat(real).st_mode), 0o640, "the mode is kept")
        tap.is_(sorted(os.listdir(home)), sorted([".aws", "dotfiles-config"]),
                "no temporary file is left")
        p = k("get", "prod")
        tap.is_(p.returncode, 0, "get prod works through the new tool profile", p.stderr)
        p = k("wrap", "prod-chain", "--write")
        tap.is_(p.returncode, 4, "a second wrap --write is refused (the name is taken)",
                p.stderr)

    with tap.test("wrap --all does every chain without a tool profile"):
        p = k("wrap", "--all", "--write")
        tap.is_(p.returncode, 0, "wrap --all --write", p.stderr)
        tap.ok("skipped taken-chain" in p.stderr, "a taken name is skipped with a warning",
               p.stderr)
        with open(real) as f:
            now = f.read()
        tap.ok("get prod-chain" in now and now.count("get prod-chain") == 1,
               "prod-chain (wrapped already) is not wrapped twice", now)
        tap.ok("[profile ops-keyrole]" not in now,
               "ops, which profile old points at, is left alone", now)
        tap.ok("[profile dev-keyrole]" not in now and "[profile default-keyrole]" not in now,
               "profiles that are not chains are left alone", now)
        p = k("wrap", "--all")
        tap.ok(p.returncode == 0 and "already" in p.stdout, "then nothing is left to do",
               p.stdout)
        p = k("check")
        tap.ok("prod: ok" in p.stdout, "check is happy with the written profile", p.stdout)


krtest.main(main)
