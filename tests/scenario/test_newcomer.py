"""A newcomer's first hour, from an empty HOME, with the README's commands
and the usual mistakes: keys that `aws configure` left in
~/.aws/credentials, chain profiles written by hand, a tool profile with a
typo'd target, then `keyrole add --move`, `keyrole wrap --write`,
`keyrole check` (which names the typo and its fix), forget/status/exec on
the tool profile, and the AWS CLI (v2 and v1) running sts
get-caller-identity through the tool profiles against moto."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"


def main(tap, run):
    try:
        ks = run.keyring()
    except krtest.Skip as e:
        tap.skip("the newcomer's path", str(e))
        return
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    r = seed["roles"]
    home = run.home()
    kr = krtest.keyrole()

    # What `aws configure` leaves behind: keys in the credentials file.
    cfg_path, cred_path = krtest.write_aws_config(
        home, "[profile dev]\nregion = us-east-1\n",
        "[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        % (seed["access_key_id"], seed["secret_access_key"]))
    d = run.daemon(home, cache="secret-service", env=ks.env())
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})

    def k(*args):
        return krtest.run_client(list(args), env=env, timeout=60)

    def edit(old, new):
        with open(cfg_path) as f:
            t = f.read()
        with open(cfg_path, "w") as f:
            f.write(t.replace(old, new))

    # The README's worked example: the chain in *-chain profiles, and (by
    # hand, mistyped) the tool profile of the admin chain.
    with open(cfg_path, "a") as f:
        f.write("\n[profile prod-chain]\nrole_arn = %s\nsource_profile = dev\n"
                "role_session_name = %s\nregion = us-east-1\n"
                "\n[profile prod-admin-chain]\nrole_arn = %s\nsource_profile = prod-chain\n"
                "role_session_name = %s\n"
                "\n[profile prod-admin]\ncredential_process = %s get prod-admn-chain\n"
                "region = us-east-1\n"
                % (r["prod"], SESSION, r["prod-admin"], SESSION, kr))

    with tap.test("add --move takes the keys out of ~/.aws/credentials"):
        p = k("add", "dev", "--move")
        tap.is_(p.returncode, 0, "keyrole add dev --move", p.stderr)
        with open(cred_path) as f:
            left = f.read()
        tap.is_(left, "[dev]\n", "only the section header is left")
        tap.ok(seed["secret_access_key"] not in left, "no secret on disk")

    with tap.test("wrap --write makes the tool profile of prod-chain"):
        p = k("wrap", "prod-chain", "--write")
        tap.is_(p.returncode, 0, "keyrole wrap prod-chain --write", p.stderr)
        with open(cfg_path) as f:
            tap.ok("[profile prod]\ncredential_process = %s get prod-chain\nregion = us-east-1\n"
                   % kr in f.read(), "[profile prod] is in the config file")
        p = k("wrap", "--all")
        tap.ok(p.returncode == 0 and "[profile" not in p.stdout,
               "every chain has a tool profile now (prod-admin points at a typo, "
               "so prod-admin-chain would still be offered)", p.stdout)

    with tap.test("check catches the typo'd target with a did-you-mean"):
        p = k("check")
        tap.is_(p.returncode, 1, "keyrole check exits 1", p.stdout)
        m = re.search(r"^(\S+):(\d+): error: credential_process of profile \"prod-admin\" runs "
                      r"keyrole get prod-admn-chain, and there is no profile", p.stdout, re.M)
        tap.ok(m and m.group(1) == cfg_path, "the error is at the config file's line", p.stdout)
        tap.ok('did you mean "prod-admin-chain"?' in p.stdout, "with a did-you-mean", p.stdout)
        p = k("get", "prod-admin")
        tap.is_(p.returncode, 4, "get prod-admin fails (config)", p.stderr)
        p = k("forget", "prod-admn")
        tap.is_(p.returncode, 4, "forget of a profile that exists nowhere is an error", p.stderr)
        edit("get prod-admn-chain", "get prod-admin-chain")
        p = k("check")
        tap.is_(p.returncode, 0, "after the fix check is clean", p.stdout)
        tap.ok("warning" not in p.stdout, "no warning either (no keys shadow stored ones)",
               p.stdout)

    for name, argv in (("AWS CLI v2", ["/usr/bin/aws"]),
                       ("AWS CLI v1", [sys.executable, "-m", "awscli"])):
        with tap.test("%s through the tool profiles" % name):
            if argv[0] == "/usr/bin/aws" and not os.access(argv[0], os.X_OK):
                tap.skip(name, "not installed at /usr/bin/aws")
                continue
            for prof, role in (("prod", "prod"), ("prod-admin", "prod-admin")):
                p = subprocess.run(argv + ["sts", "get-caller-identity", "--profile", prof,
                                           "--endpoint-url", moto.url, "--output", "json"],
                                   env=krtest.clean_env(env), capture_output=True, text=True,
                                   timeout=120)
                arn = json.loads(p.stdout).get("Arn") if p.returncode == 0 else p.stderr[-300:]
                tap.is_(arn, krtest.session_arn(role, SESSION), "%s: --profile %s" % (name, prof))

    with tap.test("status, forget and exec on the tool profile"):
        p = k("status", "prod-admin")
        tap.ok(p.returncode == 0 and "role/prod-admin" in p.stdout and "assume-role" in p.stdout,
               "status prod-admin lists its target's chain", p.stdout)
        p = k("forget", "prod-admin")
        tap.ok(p.returncode == 0 and "forgot 2 cached entries" in p.stdout,
               "forget prod-admin drops both hops", p.stdout + p.stderr)
        p = krtest.run_client(["exec", "prod", "--", sys.executable, "-m", "awscli", "sts",
                               "get-caller-identity", "--endpoint-url", moto.url,
                               "--output", "json"], env=env, timeout=120)
        tap.is_(json.loads(p.stdout).get("Arn") if p.returncode == 0 else p.stderr[-300:],
                krtest.session_arn("prod", SESSION), "keyrole exec prod -- aws ...")


krtest.main(main)
