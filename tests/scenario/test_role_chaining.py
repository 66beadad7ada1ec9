"""Role chaining from the first hop: when the source of a chain is itself a
session (static keys with aws_session_token, credential_source =
Environment with AWS_SESSION_TOKEN, or a credential_process that returns a
SessionToken), STS allows at most 3600 seconds, so a longer
duration_seconds is lowered to 3600 (moto dates the session by the
DurationSeconds it gets), and `keyrole check` says so where it can know.
Long-term keys keep the asked-for duration."""

import calendar
import json
import os
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-chain"


def helper(run, name, doc):
    """A credential_process that prints doc (kept in a file: no secret in argv)."""
    data = run.path(name + ".json")
    with open(data, "w") as f:
        json.dump(doc, f)
    p = run.path(name)
    with open(p, "w") as f:
        f.write('#!/bin/sh\ncat "%s"\n' % data)
    os.chmod(p, stat.S_IRWXU)
    return p


def lifetime(stdout):
    """Seconds from now to the Expiration of a `keyrole get` answer."""
    exp = json.loads(stdout or "{}").get("Expiration", "")
    if not exp:
        return None
    return calendar.timegm(time.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")) - time.time()


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    r = seed["roles"]
    sts = moto.client("sts", seed["access_key_id"], seed["secret_access_key"])
    sess = sts.assume_role(RoleArn=r["prod"], RoleSessionName=SESSION,
                           DurationSeconds=3600)["Credentials"]
    home = run.home()
    with_token = helper(run, "session-helper", {
        "Version": 1, "AccessKeyId": sess["AccessKeyId"],
        "SecretAccessKey": sess["SecretAccessKey"], "SessionToken": sess["SessionToken"]})
    long_term = helper(run, "keys-helper", {
        "Version": 1, "AccessKeyId": seed["access_key_id"],
        "SecretAccessKey": seed["secret_access_key"]})
    role = ("role_arn = %s\nrole_session_name = %s\nduration_seconds = 7200\n"
            % (r["prod-admin"], SESSION))
    cfg = ("[profile sess]\nregion = us-east-1\n\n"
           "[profile c-static]\n%ssource_profile = sess\n\n"
           "[profile c-env]\n%scredential_source = Environment\n\n"
           "[profile helper-sess]\ncredential_process = %s\n\n"
           "[profile c-proc]\n%ssource_profile = helper-sess\n\n"
           "[profile helper-keys]\ncredential_process = %s\n\n"
           "[profile c-long]\nrole_arn = %s\nrole_session_name = %s\n"
           "duration_seconds = 7200\nsource_profile = helper-keys\n"
           % (role, role, with_token, role, long_term, r["prod"], SESSION))
    creds = ("[sess]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
             "aws_session_token = %s\n" % (sess["AccessKeyId"], sess["SecretAccessKey"],
                                           sess["SessionToken"]))
    cfg_path, _ = krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})
    env_sess = dict(env, AWS_ACCESS_KEY_ID=sess["AccessKeyId"],
                    AWS_SECRET_ACCESS_KEY=sess["SecretAccessKey"],
                    AWS_SESSION_TOKEN=sess["SessionToken"])

    for name, e, what in (("c-static", env, "static keys with aws_session_token"),
                          ("c-env", env_sess, "credential_source = Environment with a token"),
                          ("c-proc", env, "a credential_process that returns a SessionToken")):
        with tap.test(what):
            p = krtest.run_client(["get", name], env=e)
            tap.is_(p.returncode, 0, "%s: keyrole get" % name, p.stderr)
            left = lifetime(p.stdout)
            tap.ok(left is not None and 3000 < left <= 3600 + 5,
                   "%s: lowered to one hour (%s s left)" % (name, left))

    with tap.test("long-term keys from a credential_process keep 7200 s"):
        p = krtest.run_client(["get", "c-long"], env=env)
        tap.is_(p.returncode, 0, "keyrole get", p.stderr)
        left = lifetime(p.stdout)
        tap.ok(left is not None and left > 7000, "7200 s asked, 7200 s got (%s s left)" % left)

    with tap.test("keyrole check says so where it can know"):
        dur_line = lambda prof: cfg.splitlines().index("[profile %s]" % prof) + 4  # noqa: E731
        p = krtest.run_client(["check", "c-static"], env=env)
        tap.ok("%s:%d: warning" % (cfg_path, dur_line("c-static")) in p.stdout and
               "role chaining" in p.stdout and "aws_session_token" in p.stdout,
               "static keys with a token: a warning at duration_seconds", p.stdout)
        p = krtest.run_client(["check", "c-env"], env=env_sess)
        tap.ok("role chaining" in p.stdout and "AWS_SESSION_TOKEN" in p.stdout,
               "environment with a token: a warning", p.stdout)
        p = krtest.run_client(["check", "c-env"], env=dict(env_sess, AWS_SESSION_TOKEN=""))
        tap.ok("role chaining" not in p.stdout, "environment without a token: none", p.stdout)
        p = krtest.run_client(["check", "c-proc"], env=env)
        tap.ok("at run time" in p.stdout and p.returncode == 0,
               "credential_process: what will happen if it returns a session", p.stdout)
    tap.ok(sess["SecretAccessKey"] not in d.log_text(), "no secret in the log")


krtest.main(main)
