"""An STS endpoint URL whose scheme is not in lower case ("HTTP://",
"Http://") works end to end through client, daemon and moto, from
AWS_ENDPOINT_URL_STS and from the profile's endpoint_url: the endpoint
resolver accepts any case (as botocore does) and hands the HTTP code a
lowercase scheme."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-case"


def main(tap, run):
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    home = run.home()
    upper = moto.url.replace("http://", "HTTP://", 1)
    mixed = moto.url.replace("http://", "Http://", 1)
    cfg, creds = krtest.chain_config(seed, session_name=SESSION, endpoint_url=mixed,
                                     process_profiles=False)
    krtest.write_aws_config(home, cfg, creds)
    d = run.daemon(home)

    with tap.test("HTTP:// in AWS_ENDPOINT_URL_STS"):
        env = krtest.aws_env(home, d.socket, upper, {"KEYROLE_NO_AUTOSTART": "1"})
        p = krtest.run_client(["get", "prod"], env=env)
        tap.is_(p.returncode, 0, "keyrole get succeeds", p.stderr)
        tap.ok(json.loads(p.stdout or "{}").get("SessionToken"), "a session came back")

    with tap.test("Http:// in the profile's endpoint_url"):
        env = krtest.aws_env(home, d.socket, None, {"KEYROLE_NO_AUTOSTART": "1"})
        p = krtest.run_client(["get", "prod-admin"], env=env)
        tap.is_(p.returncode, 0, "a two-hop chain succeeds", p.stderr)
        p = krtest.run_client(["check", "prod", "--json"], env=env)
        rep = json.loads(p.stdout or "[]")
        eps = [s.get("endpoint") for s in rep[0]["steps"] if s["kind"] == "role"] if rep else []
        tap.is_(eps, [moto.url], "keyrole check shows the lowercase URL", p.stdout[:300])
    tap.ok(d.alive(), "daemon alive")


krtest.main(main)
