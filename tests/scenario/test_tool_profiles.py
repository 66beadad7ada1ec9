"""Tool profiles (credential_process = keyrole get TARGET) are understood
everywhere: check follows one into its target (a typo'd or broken target is
the tool profile's error, at its credential_process line, with a
did-you-mean); get, env, exec, status and forget act on the target's chain
(no second keyrole is run); forget of a profile that exists nowhere is an
error; status names each entry's source and says "never fetched" for a
fetch that never succeeded; check warns where file keys shadow stored
ones."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto)
    home = run.home()
    cfg, creds = krtest.chain_config(seed)
    kr = krtest.keyrole()
    cfg += ("\n[profile typo]\ncredential_process = %s get prod-admn\n"
            "\n[profile opts]\ncredential_process = %s get --mfa-code 123456 prod-admin\n"
            "\n[profile broken-chain]\nrole_arn = %s\nsource_profile = nowhere\n"
            "\n[profile broken]\ncredential_process = keyrole get broken-chain\n"
            "\n[profile bad-keys]\nrole_arn = %s\nsource_profile = dev\n"
            "role_session_name = kr-test\nregion = us-east-1\n"
            "\n[profile kr-bad]\ncredential_process = %s get bad-keys\n"
            % (kr, kr, seed["roles"]["prod"], seed["roles"]["prod"], kr))
    cfg_path, _ = krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})

    def kr_(*args, **kw):
        return krtest.run_client(list(args), env=kw.get("env", env))

    with tap.test("check follows a tool profile into a typo'd target"):
        p = kr_("check", "typo")
        tap.is_(p.returncode, 1, "check typo fails", p.stdout + p.stderr)
        line = [i + 1 for i, l in enumerate(open(cfg_path)) if "get prod-admn" in l][0]
        tap.ok("%s:%d: error:" % (cfg_path, line) in p.stdout,
               "the error is at the credential_process line", p.stdout)
        tap.ok('no profile "prod-admn"' in p.stdout and 'did you mean "prod-admin"?' in p.stdout,
               "it names the missing target and the nearest profile", p.stdout)
        p = kr_("check", "--json", "typo")
        rep = json.loads(p.stdout)[0]
        tap.is_(rep["ok"], False, "the JSON report has ok false")

    with tap.test("check follows a tool profile into a broken target"):
        p = kr_("check", "broken")
        tap.is_(p.returncode, 1, "check broken fails", p.stdout)
        tap.ok("runs keyrole get broken-chain, which does not work" in p.stdout and
               "nowhere" in p.stdout, "it says why the target fails", p.stdout)

    with tap.test("check of a working tool profile and of all profiles"):
        p = kr_("check", "kr-prod-admin")
        tap.is_(p.returncode, 0, "check kr-prod-admin passes", p.stdout + p.stderr)
        tap.ok("tool profile of: prod-admin" in p.stdout, "it names the target", p.stdout)
        p = kr_("check", "--json", "kr-prod-admin")
        tap.is_(json.loads(p.stdout)[0].get("target"), "prod-admin", "JSON: target")
        p = kr_("check")
        tap.ok("typo: ERROR" in p.stdout and "kr-prod: ok" in p.stdout,
               "check of every profile flags only the broken ones", p.stdout)

    with tap.test("get, env and exec of a tool profile act on its target"):
        p = kr_("get", "kr-prod-admin")
        tap.is_(p.returncode, 0, "get kr-prod-admin", p.stderr)
        p = kr_("get", "opts")
        tap.is_(p.returncode, 0, "get of a tool profile whose command has --mfa-code first",
                p.stderr)
        p = kr_("exec", "kr-prod", "--", "sh", "-c", "test -n \"$AWS_SESSION_TOKEN\"")
        tap.is_(p.returncode, 0, "exec kr-prod (the caller's STS endpoint reaches the chain)",
                p.stderr)
        p = kr_("env", "kr-prod")
        tap.ok(p.returncode == 0 and "AWS_SESSION_TOKEN" in p.stdout, "env kr-prod", p.stderr)

    with tap.test("status PROFILE shows the target's chain, with its sources"):
        p = kr_("status", "kr-prod-admin")
        tap.is_(p.returncode, 0, "status kr-prod-admin", p.stderr)
        tap.ok("role/prod-admin" in p.stdout and "role/prod\n" in p.stdout,
               "both hops of the target's chain are listed", p.stdout)
        tap.ok("assume-role" in p.stdout and "SOURCE" in p.stdout, "the source kind is shown",
               p.stdout)
        tap.ok("(MFA session)" not in p.stdout, "nothing is called an MFA session", p.stdout)

    with tap.test("forget of a tool profile forgets its target's sessions"):
        p = kr_("forget", "kr-prod-admin")
        tap.is_(p.returncode, 0, "forget kr-prod-admin", p.stderr)
        tap.ok("forgot 2 cached entries" in p.stdout, "both hops are forgotten", p.stdout)
        p = kr_("status", "--json")
        roles = [e["role"] for e in json.loads(p.stdout)["entries"]]
        tap.ok(not any(r.endswith("role/prod-admin") for r in roles), "prod-admin is gone",
               roles)

    with tap.test("forget of a profile that exists nowhere is an error"):
        p = kr_("forget", "prod-admn")
        tap.is_(p.returncode, 4, "exit 4 (config)", p.stdout + p.stderr)
        tap.ok('"prod-admn" is in no config file' in p.stderr, "it says so", p.stderr)

    with tap.test("status says never fetched, and the last error, for a failed fetch"):
        env_bad = dict(env, AWS_ENDPOINT_URL_STS="http://127.0.0.1:9")
        p = kr_("get", "kr-bad", env=env_bad)
        tap.ok(p.returncode != 0, "get against a closed port fails", p.stderr)
        p = kr_("status", "kr-bad", env=env_bad)
        tap.ok("never fetched" in p.stdout and "last error:" in p.stdout,
               "the entry says never fetched and its error", p.stdout)
        tap.ok(" ? " not in p.stdout, "no bare ?", p.stdout)

    with tap.test("get of a tool profile with a typo'd target names the tool profile"):
        p = kr_("get", "typo")
        tap.is_(p.returncode, 4, "exit 4", p.stderr)
        tap.ok('profile "typo" runs keyrole get prod-admn' in p.stderr, "it says so", p.stderr)
        line = [i + 1 for i, l in enumerate(open(cfg_path)) if "get prod-admn" in l][0]
        tap.ok("%s:%d:" % (cfg_path, line) in p.stderr, "at the credential_process line",
               p.stderr)

    try:
        ks = run.keyring()
    except krtest.Skip as e:
        tap.skip("check warns when file keys shadow stored ones", str(e))
        return
    with tap.test("check warns where file keys shadow stored ones"):
        d2 = run.daemon(home, cache="secret-service", env=ks.env())
        env2 = dict(env, KEYROLE_SOCKET=d2.socket)
        p = krtest.run_client(["add", "dev"], env=env2, input="%s\n%s\n" % (
            seed["access_key_id"], seed["secret_access_key"]))
        tap.is_(p.returncode, 0, "keyrole add dev", p.stderr)
        p = kr_("check", "dev", env=env2)
        cred = os.path.join(home, ".aws", "credentials")
        tap.ok("%s:2: warning:" % cred in p.stdout and "in the keyring" in p.stdout,
               "a warning at the file's key line", p.stdout)
        tap.ok("--move" in p.stdout, "the fix names add --move", p.stdout)


krtest.main(main)
