"""credential_source = Ec2InstanceMetadata and EcsContainer end to end:
keyrole get through local fakes of the instance metadata service
(tests/lib/fake_imds.py: IMDSv2 with token checks, a v1-only mode) and of
the container credentials endpoint (tests/lib/fake_container.py: the
Authorization header checked), with a role chained on each against moto
(auth enforced: the fakes hand out real moto session keys). IMDSv1
fallback and ec2_metadata_v1_disabled, AWS_EC2_METADATA_DISABLED, the
container token from the variable or its file, botocore's host rule for a
full URI, single flight and caching."""

import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
from fake_container import FakeContainer  # noqa: E402
from fake_imds import FakeImds  # noqa: E402

TOKEN = "container-auth-0123456789"


def creds_json(c):
    """An IMDS/container answer carrying real moto session keys."""
    return json.dumps({"Code": "Success", "AccessKeyId": c["AccessKeyId"],
                       "SecretAccessKey": c["SecretAccessKey"], "Token": c["SessionToken"],
                       "Expiration": c["Expiration"].astimezone(datetime.timezone.utc)
                       .strftime("%Y-%m-%dT%H:%M:%SZ")})


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto)
    with moto.admin() as iam:
        instance = krtest.add_role(iam, "instance", [seed["user_arn"]])
        on_md = krtest.add_role(iam, "on-metadata", [krtest.session_arn("instance", "machine")])
    dev = moto.client("sts", seed["access_key_id"], seed["secret_access_key"])
    machine = dev.assume_role(RoleArn=instance, RoleSessionName="machine")["Credentials"]
    imds = run.adopt(FakeImds(mode="v2-only"))
    imds.answer_creds = creds_json(machine)
    v1 = run.adopt(FakeImds(mode="v1-only"))
    v1.answer_creds = creds_json(machine)
    cont = run.adopt(FakeContainer(token=TOKEN))
    cont.answer_creds = creds_json(machine)
    home = run.home()
    cfg = ("[profile on-imds]\nrole_arn = %s\ncredential_source = Ec2InstanceMetadata\n"
           "role_session_name = kr-test\n\n"
           "[profile on-imds-nov1]\nrole_arn = %s\ncredential_source = Ec2InstanceMetadata\n"
           "role_session_name = kr-test\nec2_metadata_v1_disabled = true\n\n"
           "[profile on-ecs]\nrole_arn = %s\ncredential_source = EcsContainer\n"
           "role_session_name = kr-test\n\n"
           % (on_md, on_md, on_md))
    krtest.write_aws_config(home, cfg, "")
    d = run.daemon(home)
    env = krtest.aws_env(home, d.socket, moto.url, {"KEYROLE_NO_AUTOSTART": "1"})
    ienv = dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
    cenv = dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=cont.url,
                AWS_CONTAINER_AUTHORIZATION_TOKEN=TOKEN)

    def who(p):
        c = json.loads(p.stdout or "{}")
        if not c:
            return None
        return moto.client("sts", c["AccessKeyId"], c["SecretAccessKey"],
                           c["SessionToken"]).get_caller_identity()["Arn"]

    with tap.test("IMDSv2: a role chained on the instance profile"):
        p = krtest.run_client(["get", "on-imds"], env=ienv)
        tap.is_(p.returncode, 0, "keyrole get on-imds", p.stderr)
        tap.is_(who(p), krtest.session_arn("on-metadata", "kr-test"), "moto names the role")
        reqs = imds.requests()
        tap.is_([(r["method"], r["path"], r["token"]) for r in reqs],
                [("PUT", "/latest/api/token", False),
                 ("GET", FakeImds.PREFIX, True),
                 ("GET", FakeImds.PREFIX + imds.role, True)],
                "a token, then the role name and its credentials with it")
        tap.is_(reqs[0]["ttl"], "21600", "the token's TTL header")

    with tap.test("keyrole check shows where the credentials come from"):
        p = krtest.run_client(["check", "on-imds"], env=ienv)
        tap.ok(p.returncode == 0 and "(imds %s)" % imds.url in p.stdout, "the service's URL",
               p.stdout + p.stderr)
        p = krtest.run_client(["check", "on-ecs"], env=cenv)
        tap.ok(p.returncode == 0 and "(container %s)" % cont.url in p.stdout and
               TOKEN not in p.stdout, "the endpoint's URL, never the token", p.stdout + p.stderr)

    with tap.test("IMDS: cached and single-flight"):
        krtest.run_client(["get", "on-imds"], env=ienv)
        tap.is_(imds.fetches(), 1, "a second get is served from the cache")
        krtest.run_client(["forget", "on-imds"], env=ienv)
        res = krtest.start_many([[krtest.keyrole(), "get", "on-imds"]] * 8, env=ienv)
        tap.ok(all(r.rc == 0 for r in res), "8 concurrent gets succeed",
               [r.stderr for r in res if r.rc != 0][:1])
        tap.is_(imds.fetches(), 2, "one more fetch from the service for all of them")

    with tap.test("IMDSv1 only: the fallback"):
        e = dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=v1.url)
        p = krtest.run_client(["get", "on-imds"], env=e)
        tap.is_(p.returncode, 0, "keyrole get on-imds through IMDSv1", p.stderr)
        tap.is_([(r["method"], r["token"]) for r in v1.requests()],
                [("PUT", False), ("GET", False), ("GET", False)],
                "the token PUT answered 404, the GETs without a token")

    with tap.test("IMDSv1 disabled: no fallback"):
        e = dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=v1.url)
        krtest.run_client(["forget", "on-imds-nov1"], env=e)  # the same service's session
        n = len(v1.requests())
        p = krtest.run_client(["get", "on-imds-nov1"], env=e)
        tap.ok(p.returncode != 0 and "IMDSv1 has been disabled" in p.stderr,
               "ec2_metadata_v1_disabled = true: botocore's error", p.stderr)
        tap.is_(len(p.stderr.strip().splitlines()), 1, "one line")
        tap.is_([r["method"] for r in v1.requests()[n:]], ["PUT"], "only the token request")
        e = dict(e, AWS_EC2_METADATA_V1_DISABLED="TRUE")
        krtest.run_client(["forget", "on-imds"], env=e)
        p = krtest.run_client(["get", "on-imds"], env=e)
        tap.ok(p.returncode != 0 and "IMDSv1 has been disabled" in p.stderr,
               "AWS_EC2_METADATA_V1_DISABLED=TRUE likewise", p.stderr)
        p = krtest.run_client(["get", "on-imds-nov1"], env=ienv)
        tap.is_(p.returncode, 0, "with IMDSv2 it works", p.stderr)

    with tap.test("AWS_EC2_METADATA_DISABLED=true"):
        n = len(imds.requests())
        p = krtest.run_client(["get", "on-imds"], env=dict(ienv, AWS_EC2_METADATA_DISABLED="true"))
        tap.ok(p.returncode != 0 and "AWS_EC2_METADATA_DISABLED" in p.stderr, "refused",
               p.stderr)
        tap.is_(len(imds.requests()), n, "nothing asked of the service")

    with tap.test("container: a role chained on the container's credentials"):
        p = krtest.run_client(["get", "on-ecs"], env=cenv)
        tap.is_(p.returncode, 0, "keyrole get on-ecs", p.stderr)
        tap.is_(who(p), krtest.session_arn("on-metadata", "kr-test"), "moto names the role")
        reqs = cont.requests()
        tap.ok(reqs and all(r["auth_ok"] for r in reqs), "the Authorization header was the token")

    with tap.test("container: the token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE wins"):
        tf = run.path("ctoken")
        with open(tf, "w") as f:
            f.write(TOKEN)
        e = dict(cenv, AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong", AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tf)
        p = krtest.run_client(["get", "on-ecs"], env=e)
        tap.is_(p.returncode, 0, "the file's token", p.stderr)
        with open(tf, "w") as f:
            f.write(TOKEN + "\n")
        krtest.run_client(["forget", "on-ecs"], env=e)
        p = krtest.run_client(["get", "on-ecs"], env=e)
        tap.ok(p.returncode != 0 and "not a legal header value" in p.stderr,
               "a newline in the file is refused, as botocore refuses it", p.stderr)

    with tap.test("container: a wrong token"):
        n = len(cont.requests())
        p = krtest.run_client(["get", "on-ecs"],
                              env=dict(cenv, AWS_CONTAINER_AUTHORIZATION_TOKEN="wrong"))
        tap.ok(p.returncode != 0 and "HTTP 401" in p.stderr, "fails with the endpoint's 401",
               p.stderr)
        tap.is_(len(cont.requests()) - n, 3, "after botocore's 3 attempts")

    with tap.test("container: botocore's rule on the full URI's host"):
        p = krtest.run_client(["get", "on-ecs"], env=dict(
            cenv, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://192.0.2.7:8080/creds"))
        tap.ok(p.returncode == 4 and "Unsupported host '192.0.2.7'" in p.stderr,
               "a host that is not allowed: exit 4", p.stderr)
        tap.is_(len(p.stderr.strip().splitlines()), 1, "one line")
        p = krtest.run_client(["get", "on-ecs"], env=dict(
            cenv, AWS_CONTAINER_CREDENTIALS_FULL_URI=cont.url.replace("127.0.0.1", "localhost")))
        tap.is_(p.returncode, 0, "localhost is allowed", p.stderr)
        p = krtest.run_client(["get", "on-ecs"], env=env)
        tap.ok(p.returncode != 0 and "AWS_CONTAINER_CREDENTIALS_FULL_URI" in p.stderr,
               "neither variable: says which to set", p.stderr)

    with tap.test("no secret in the log"):
        log = d.log_text()
        tap.ok(TOKEN not in log and machine["SecretAccessKey"] not in log and
               machine["SessionToken"] not in log, "no token or key in the log")
        tap.ok(d.alive(), "daemon alive")

    with tap.test("keyroled ends cleanly (no sanitizer report, exit 0 on SIGTERM)"):
        rc = d.stop(timeout=30)
        log = d.log_text()
        tap.ok(rc in (0, None) and "Sanitizer" not in log and "runtime error" not in log,
               "keyroled exits %r with nothing to report" % rc, log[-3000:])


krtest.main(main)
