"""MFA without a terminal, as an SDK started from an IDE or a desktop
launcher meets it: the code comes from an askpass program named by
KEYROLE_ASKPASS, by the profile's keyrole_mfa_prompt, or by keyroled's
mfa-prompt setting; a bad keyrole_mfa_prompt is a configuration error at its
line, and `keyrole check` knows the key."""

import json
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"


def askpass(run, name, code):
    """An askpass program: records its arguments in NAME.args, prints code."""
    p = run.path(name)
    with open(p, "w") as f:
        f.write('#!/bin/sh\nprintf "%%s\\n" "$@" > "%s.args"\nprintf "%s\\n"\n' % (p, code))
    os.chmod(p, stat.S_IRWXU)
    return p


def args_of(prog):
    try:
        with open(prog + ".args") as f:
            return f.read().splitlines()
    except OSError:
        return None


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    # moto's GetSessionToken returns fixed example keys that its own IAM does
    # not know: the MFA part runs with enforcement off.
    moto.disable_auth()
    home = run.home()
    by_env = askpass(run, "env-askpass", "111222")
    by_profile = askpass(run, "profile-askpass", "333444")
    by_setting = askpass(run, "setting-askpass", "555666")
    cfg, creds = krtest.chain_config(seed, process_profiles=False)
    role, serial = seed["roles"]["prod"], seed["mfa_serial"]
    cfg += ("\n[profile mfa-plain]\nrole_arn = %s\nsource_profile = dev\nmfa_serial = %s\n"
            "role_session_name = %s\n"
            "\n[profile mfa-own]\nrole_arn = %s\nsource_profile = dev\nmfa_serial = %s\n"
            "role_session_name = %s\nkeyrole_mfa_prompt = %s\n"
            "\n[profile mfa-bad]\nrole_arn = %s\nsource_profile = dev\nmfa_serial = %s\n"
            "role_session_name = %s\nkeyrole_mfa_prompt = popup\n"
            "\n[profile tool]\ncredential_process = %s get mfa-plain\nregion = us-east-1\n"
            % (role, serial, SESSION, role, serial, SESSION, by_profile, role, serial, SESSION,
               krtest.keyrole()))
    krtest.write_aws_config(home, cfg, creds)
    config = os.path.join(home, ".aws", "config")
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})

    def get(profile, extra=None):
        return subprocess.run([krtest.keyrole(), "get", profile],
                              env=krtest.clean_env(dict(env, **(extra or {}))),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              start_new_session=True, timeout=60)

    def forget():
        d.request({"v": 1, "op": "forget", "all": True})

    with tap.test("the AWS CLI with no terminal: KEYROLE_ASKPASS gives the code"):
        p = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity",
                            "--profile", "tool", "--output", "json"],
                           env=krtest.clean_env(dict(env, KEYROLE_ASKPASS=by_env,
                                                     AWS_ENDPOINT_URL=moto.url)),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True, timeout=90)
        tap.is_(p.returncode, 0, "aws sts get-caller-identity succeeds", p.stderr[-500:])
        tap.ok("assumed-role" in json.loads(p.stdout or "{}").get("Arn", ""),
               "as the role", p.stdout)
        tap.is_(args_of(by_env), ["Enter MFA code for %s" % serial],
                "the askpass program got the prompt as its argument")

    with tap.test("keyrole_mfa_prompt in the profile names the askpass program"):
        forget()
        p = get("mfa-own", {"KEYROLE_ASKPASS": by_env})
        tap.is_(p.returncode, 0, "exit 0", p.stderr)
        tap.ok(args_of(by_profile) == ["Enter MFA code for %s" % serial],
               "the profile's program asked, over KEYROLE_ASKPASS")

    with tap.test("a keyrole_mfa_prompt that is no way to ask: exit 4 at its line"):
        p = get("mfa-bad")
        tap.ok(p.returncode == 4 and ("%s:" % config) in p.stderr and "popup" in p.stderr,
               "names the file, line and value", (p.returncode, p.stderr))
        c = subprocess.run([krtest.keyrole(), "check", "mfa-own"], env=krtest.clean_env(env),
                           capture_output=True, text=True, timeout=30)
        tap.ok("keyrole_mfa_prompt" not in c.stdout + c.stderr,
               "check knows keyrole_mfa_prompt (no unknown-key warning)", c.stdout + c.stderr)
        c = subprocess.run([krtest.keyrole(), "check", "mfa-bad"], env=krtest.clean_env(env),
                           capture_output=True, text=True, timeout=30)
        tap.ok(c.returncode != 0 and "popup" in c.stdout + c.stderr,
               "check reports the bad value", (c.returncode, c.stdout, c.stderr))

    with tap.test("no terminal and no way to ask: one line saying how to set one up"):
        forget()
        p = get("mfa-plain")
        tap.ok(p.returncode == 6 and p.stdout == "" and len(p.stderr.splitlines()) == 1,
               "exit 6, one line", (p.returncode, p.stderr))
        tap.ok("KEYROLE_ASKPASS" in p.stderr, "names KEYROLE_ASKPASS", p.stderr)

    with tap.test("keyroled's mfa-prompt setting names the askpass program"):
        d.stop()
        conf_dir = os.path.join(home, ".config", "keyrole")
        os.makedirs(conf_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(conf_dir, "keyroled.conf"), "w") as f:
            f.write("mfa-prompt = %s\n" % by_setting)
        d2 = run.daemon(home)
        p = subprocess.run([krtest.keyrole(), "get", "mfa-plain"],
                           env=krtest.clean_env(dict(env, KEYROLE_SOCKET=d2.socket)),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           start_new_session=True, timeout=60)
        tap.is_(p.returncode, 0, "exit 0", p.stderr)
        tap.is_(args_of(by_setting), ["Enter MFA code for %s" % serial], "its program asked")
        with open(os.path.join(conf_dir, "keyroled.conf"), "w") as f:
            f.write("mfa-prompt = popup\n")
        bad = subprocess.run([os.path.join(krtest.build_dir(), "keyroled"), "--socket",
                              run.path("bad.sock")], env=krtest.clean_env({"HOME": home}),
                             capture_output=True, text=True, timeout=10)
        tap.ok(bad.returncode == 2 and "mfa-prompt" in bad.stderr,
               "a bad mfa-prompt stops keyroled with exit 2", (bad.returncode, bad.stderr))


krtest.main(main)
