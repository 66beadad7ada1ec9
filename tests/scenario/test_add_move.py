"""keyrole add PROFILE --move takes the profile's long-term keys from the
credentials file, checks them with GetCallerIdentity (moto with signature
checks), stores them in the keyring and deletes their two lines from the
file: atomically, every other line and comment kept, the mode kept, no
backup or temporary file left, the section header kept (so that
source_profile still finds the profile). Bad keys, a session's keys (with
aws_session_token) or a profile without keys change nothing."""

import os
import stat
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

CREDS = """# written by hand; keep me
[dev]
# alice's keys
aws_access_key_id = %(id)s
aws_secret_access_key = %(secret)s
output = json

[bad]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

[sess]
aws_access_key_id = ASIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
aws_session_token = FwoGZXIvYXdzEXAMPLE
"""


def main(tap, run):
    try:
        ks = run.keyring()
    except krtest.Skip as e:
        tap.skip("add --move", str(e))
        return
    moto = run.moto()
    seed = krtest.seed_chain(moto)
    home = run.home()
    cfg = ("[profile dev]\nregion = us-east-1\n\n[profile prod-chain]\nrole_arn = %s\n"
           "source_profile = dev\nrole_session_name = kr-test\nregion = us-east-1\n\n"
           "[profile nokeys]\nregion = us-east-1\n" % seed["roles"]["prod"])
    creds = CREDS % {"id": seed["access_key_id"], "secret": seed["secret_access_key"]}
    _, cred_path = krtest.write_aws_config(home, cfg, creds)
    os.chmod(cred_path, 0o640)
    d = run.daemon(home, cache="secret-service", env=ks.env())
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})

    def k(*args):
        return krtest.run_client(list(args), env=env, timeout=60)

    def text():
        with open(cred_path) as f:
            return f.read()

    with tap.test("keys GetCallerIdentity refuses are neither stored nor moved"):
        p = k("add", "bad", "--move")
        tap.ok(p.returncode != 0, "add bad --move fails", p.stdout + p.stderr)
        tap.ok("GetCallerIdentity" in p.stderr and "not stored" in p.stderr,
               "the error says GetCallerIdentity refused them", p.stderr)
        tap.is_(text(), creds, "the file is unchanged")
        p = k("status", "--json")
        tap.ok('"bad"' not in p.stdout, "nothing is stored", p.stdout)

    with tap.test("a session's keys and a profile without keys are refused"):
        p = k("add", "sess", "--move")
        tap.is_(p.returncode, 4, "add sess --move fails (config)", p.stderr)
        tap.ok("session token" in p.stderr and "%s:15:" % cred_path in p.stderr,
               "it names the token's line", p.stderr)
        p = k("add", "nokeys", "--move")
        tap.is_(p.returncode, 4, "add nokeys --move fails (config)", p.stderr)
        tap.ok("nothing to move" in p.stderr, "it says there is nothing to move", p.stderr)
        tap.is_(text(), creds, "the file is unchanged")

    with tap.test("add --move moves verified keys out of the file"):
        p = k("check", "dev")
        tap.ok("warning" not in p.stdout, "before: no keys stored, no shadow warning", p.stdout)
        p = k("add", "dev", "--move")
        tap.is_(p.returncode, 0, "add dev --move", p.stderr)
        tap.ok("moved long-term keys for dev from %s" % cred_path in p.stdout and
               seed["user_arn"] in p.stdout, "it says what it moved and whose keys they are",
               p.stdout)
        want = "\n".join(l for l in creds.split("\n")
                         if seed["access_key_id"] not in l and seed["secret_access_key"] not in l)
        tap.is_(text(), want, "exactly the two key lines are gone")
        tap.ok(seed["secret_access_key"] not in text(), "the secret is not in the file")
        tap.is_(stat.S_IMODE(os.stat(cred_path).st_mode), 0o640, "the mode is kept")
        left = sorted(os.listdir(os.path.dirname(cred_path)))
        tap.is_(left, ["config", "credentials"], "no backup or temporary file is left")
        p = k("status", "--json")
        tap.ok('"dev"' in p.stdout, "dev's keys are stored", p.stdout)
        p = k("get", "prod-chain")
        tap.is_(p.returncode, 0, "a chain on dev works from the stored keys", p.stderr)
        p = k("check", "dev")
        tap.ok("keyring" in p.stdout and "warning" not in p.stdout,
               "check shows the keyring source and no shadow warning", p.stdout)

    with tap.test("a second --move has nothing to move"):
        p = k("add", "dev", "--move")
        tap.is_(p.returncode, 4, "add dev --move again fails", p.stderr)
        tap.ok("nothing to move" in p.stderr, "nothing to move", p.stderr)


krtest.main(main)
