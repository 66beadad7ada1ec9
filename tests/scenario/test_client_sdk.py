#!/usr/bin/env python3
"""End to end: real AWS consumers use `keyrole get` as their
credential_process, against the real keyroled and moto's STS.

Consumers: AWS CLI v1 (pip, next to this python), AWS CLI v2 (/usr/bin/aws),
boto3, and the JavaScript SDK v3 (fromProcess/fromIni; installed from npm into
$KR_BUILD/jsdeps on first use). Also: an AWS error reaches the consumer as
keyrole's one stderr line, and 100 clients at once autostart exactly one
keyroled. Skips, saying why, only while keyroled is not built or a consumer
is not installed on this machine.
"""

import calendar
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"
# The JS SDK v3 release the test installs from npm (pinned: the same test every run).
JS_SDK_VERSION = "3.1178.0"

JS_TEST = r"""
const { fromProcess, fromIni } = require("@aws-sdk/credential-providers");
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
(async () => {
  const creds = await fromProcess({ profile: process.argv[2] })();
  const sts = new STSClient({ region: "us-east-1", endpoint: process.env.KR_MOTO_URL,
                              credentials: fromIni({ profile: process.argv[2] }) });
  const id = await sts.send(new GetCallerIdentityCommand({}));
  console.log(JSON.stringify({ akid: creds.accessKeyId,
                               expiration: creds.expiration ? creds.expiration.toISOString() : null,
                               arn: id.Arn }));
})().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });
"""


def sh(argv, env, timeout=60):
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, timeout=timeout,
                       cwd="/", stdin=subprocess.DEVNULL, start_new_session=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def js_deps(tap):
    """node_modules with the JS SDK v3, installed once into $KR_BUILD/jsdeps."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise krtest.Skip("node/npm not installed (apt-get install nodejs npm)")
    d = os.path.join(krtest.build_dir(), "jsdeps")
    mods = os.path.join(d, "node_modules", "@aws-sdk")

    def installed(name):
        try:
            with open(os.path.join(mods, name, "package.json")) as f:
                return json.load(f).get("version") == JS_SDK_VERSION
        except (OSError, ValueError):
            return False

    if not (installed("credential-providers") and installed("client-sts")):
        os.makedirs(d, exist_ok=True)
        p = subprocess.run([npm, "install", "--prefix", d, "--no-audit", "--no-fund",
                            "--loglevel=error",
                            "@aws-sdk/credential-providers@" + JS_SDK_VERSION,
                            "@aws-sdk/client-sts@" + JS_SDK_VERSION],
                           capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise krtest.Skip("cannot install the JS SDK from npm: %s"
                              % p.stderr.decode(errors="replace").strip()[-200:])
    return node, d


def keyroled_pids(sock):
    """PIDs of keyroled processes started with this socket path."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"keyroled" and sock.encode() in argv:
            pids.append(int(pid))
    return pids


def main(tap, run):
    krtest.require_file(krtest.keyrole(), "keyrole")
    if not os.access(krtest.keyroled(), os.X_OK):
        raise krtest.Skip("keyroled is not built yet (%s missing)" % krtest.keyroled())
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    home = run.home()
    cfg, creds = krtest.chain_config(seed, session_name=SESSION)
    # A source whose secret does not match its key id, for the error cases.
    cfg += ("\n[profile badsecret]\nrole_arn = %s\nsource_profile = wrongkey\n"
            "role_session_name = %s\nregion = us-east-1\n" % (seed["roles"]["prod"], SESSION))
    creds += ("[wrongkey]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
              % (seed["access_key_id"], "x" * 40))
    # The prod role from a profile with no region anywhere in its chain.
    cfg += ("\n[profile plain]\n[profile noregion]\nrole_arn = %s\nsource_profile = plain\n"
            "role_session_name = %s\n" % (seed["roles"]["prod"], SESSION))
    creds += ("[plain]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
              % (seed["access_key_id"], seed["secret_access_key"]))
    krtest.write_aws_config(home, cfg, creds)
    daemon = run.daemon(home)
    env = krtest.aws_env(home, socket_path=daemon.socket, endpoint_url=moto.url,
                         extra={"KEYROLE_NO_AUTOSTART": "1"})
    prod_arn = krtest.session_arn("prod", SESSION)
    admin_arn = krtest.session_arn("prod-admin", SESSION)

    with tap.test("keyrole get prints fresh role credentials from STS"):
        rc, out, err = sh([krtest.keyrole(), "get", "prod"], env)
        tap.is_(rc, 0, "exit 0", err)
        doc = json.loads(out)
        tap.ok(doc["Version"] == 1 and doc["AccessKeyId"] and doc["SessionToken"],
               "Version 1 with a session")
        exp = calendar.timegm(time.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
        tap.ok(exp > time.time() + 15 * 60, "expires more than 15 minutes from now",
               doc["Expiration"])

    aws1 = os.path.join(os.path.dirname(sys.executable), "aws")
    for name, aws, extra in (("AWS CLI v1", aws1, []), ("AWS CLI v2", "/usr/bin/aws", [])):
        with tap.test("%s runs keyrole as credential_process" % name):
            if not os.access(aws, os.X_OK):
                raise krtest.Skip("%s not installed at %s" % (name, aws))
            for prof, want in (("kr-prod", prod_arn), ("kr-prod-admin", admin_arn)):
                rc, out, err = sh([aws, "sts", "get-caller-identity", "--profile", prof,
                                   "--endpoint-url", moto.url, "--output", "json"] + extra, env)
                tap.is_((rc, json.loads(out).get("Arn") if rc == 0 else err.strip()[-300:]),
                        (0, want), "%s: %s is %s" % (name, prof, want))

    with tap.test("AWS CLI v2 export-credentials matches keyrole get"):
        if not os.access("/usr/bin/aws", os.X_OK):
            raise krtest.Skip("AWS CLI v2 not installed at /usr/bin/aws")
        rc, out, err = sh(["/usr/bin/aws", "configure", "export-credentials", "--profile",
                           "kr-prod", "--format", "process"], env)
        rc2, out2, err2 = sh([krtest.keyrole(), "get", "prod"], env)
        tap.ok(rc == 0 and rc2 == 0, "both exit 0", err + err2)
        a, b = json.loads(out), json.loads(out2)
        tap.is_((a.get("AccessKeyId"), a.get("SessionToken") == b.get("SessionToken")),
                (b.get("AccessKeyId"), True), "same cached credentials")

    with tap.test("boto3 uses keyrole through the profile"):
        code = ("import boto3,json,sys\n"
                "s=boto3.Session(profile_name=sys.argv[1])\n"
                "print(s.client('sts',endpoint_url=sys.argv[2]).get_caller_identity()['Arn'])\n")
        rc, out, err = sh([sys.executable, "-c", code, "kr-prod-admin", moto.url], env)
        tap.is_((rc, out.strip() if rc == 0 else err.strip()[-300:]), (0, admin_arn),
                "boto3 sees prod-admin")

    # What an earlier `eval "$(keyrole env other)"` or an old tool left behind.
    stale = {"AWS_SECURITY_TOKEN": "stale-token-of-another-session",
             "AWS_REGION": "stale-region-1", "AWS_DEFAULT_REGION": "stale-region-1"}
    shown = "${AWS_SECURITY_TOKEN-<unset>} ${AWS_REGION-<unset>} ${AWS_DEFAULT_REGION-<unset>}"
    ident = ("import boto3,sys\n"
             "print(boto3.client('sts',endpoint_url=sys.argv[1],region_name='us-east-1')"
             ".get_caller_identity()['Arn'])\n")

    with tap.test("exec drops a stale AWS_SECURITY_TOKEN: boto3 in the command uses the session"):
        rc, out, err = sh([krtest.keyrole(), "exec", "prod", "--", "sh", "-c",
                           'echo "%s"; "$0" -c "$1" "$2"' % shown, sys.executable, ident,
                           moto.url], dict(env, AWS_SECURITY_TOKEN=stale["AWS_SECURITY_TOKEN"]))
        lines = out.splitlines() if rc == 0 else []
        tap.is_((rc, lines[:1]), (0, ["<unset> us-east-1 us-east-1"]),
                "the command sees no AWS_SECURITY_TOKEN, and prod's region", err.strip()[-300:])
        tap.is_(lines[1:], [prod_arn], "boto3 in the command is the prod session")

    with tap.test("env of a profile without a region unsets a stale region and token"):
        rc, out, err = sh([krtest.keyrole(), "env", "noregion"], env)
        tap.is_(rc, 0, "keyrole env noregion exits 0", err.strip()[-300:])
        rc2, out2, err2 = sh(["sh", "-c", 'eval "$KR_ENV_TEXT"; echo "%s"; "$0" -c "$1" "$2"'
                              % shown, sys.executable, ident, moto.url],
                             dict(stale, KR_ENV_TEXT=out))
        lines = out2.splitlines()
        tap.is_(lines[:1], ["<unset> <unset> <unset>"],
                "after the eval no stale token or region is left", err2.strip()[-300:])
        tap.is_(lines[1:], [prod_arn], "boto3 after the eval is the prod session")

    with tap.test("JS SDK v3 fromProcess and fromIni use keyrole"):
        node, d = js_deps(tap)
        script = run.path("sdk.js")
        with open(script, "w") as f:
            f.write(JS_TEST)
        jenv = dict(env, NODE_PATH=os.path.join(d, "node_modules"), KR_MOTO_URL=moto.url)
        for prof, want in (("kr-prod", prod_arn), ("kr-prod-admin", admin_arn)):
            rc, out, err = sh([node, script, prof], jenv, timeout=120)
            tap.is_(rc, 0, "%s: node exits 0" % prof, err.strip()[-300:])
            doc = json.loads(out) if rc == 0 else {}
            tap.is_(doc.get("arn"), want, "%s: fromIni resolves to %s" % (prof, want))
            tap.ok(doc.get("akid") and doc.get("expiration"),
                   "%s: fromProcess has keys and expiry" % prof)

    with tap.test("an AWS refusal reaches the CLI as keyrole's one line"):
        rc, out, err = sh([krtest.keyrole(), "get", "denied"], env)
        tap.ok(rc == 5 and out == "" and err.count("\n") == 1
               and err.startswith("keyrole: denied: "), "keyrole get denied: exit 5, one line",
               (rc, err))
        rc, out, err = sh([aws1, "sts", "get-caller-identity", "--profile", "kr-denied",
                           "--endpoint-url", moto.url], env)
        tap.ok(rc != 0 and "keyrole: denied: " in err, "the CLI shows it", (rc, err[-300:]))
        tap.ok(seed["secret_access_key"] not in err, "no secret in the message")

    with tap.test("each failure has its own clear line and exit status"):
        stopped = dict(env, KEYROLE_SOCKET=os.path.join(run.mkdir("nobody"), "agent.sock"))
        cases = (
            ("a missing profile", "no-such-profile", env, 4,
             ("no-such-profile", "not found")),
            ("a denied role", "denied", env, 5,
             ("AccessDenied", "trust policy", seed["roles"]["denied"])),
            ("a wrong secret", "badsecret", env, 5,
             ("SignatureDoesNotMatch", "secret access key does not match")),
            ("a stopped daemon (autostart off)", "prod", stopped, 3,
             ("keyroled", "not", "running")),
        )
        for what, prof, cenv, code, words in cases:
            rc, out, err = sh([krtest.keyrole(), "get", prof], cenv)
            tap.ok(rc == code and out == "" and err.count("\n") == 1
                   and err.startswith("keyrole: "),
                   "%s: exit %d, nothing on stdout, one line on stderr" % (what, code),
                   (rc, out[:80], err))
            low = err.lower()
            tap.ok(all(w.lower() in low for w in words),
                   "%s: the line names %s" % (what, ", ".join(words)), err.strip())
            tap.ok(seed["secret_access_key"] not in err and "x" * 40 not in err,
                   "%s: no secret in the message" % what)

    with tap.test("100 clients at once autostart exactly one keyroled"):
        sock = os.path.join(run.mkdir("auto"), "agent.sock")
        aenv = krtest.aws_env(home, socket_path=sock, endpoint_url=moto.url,
                              extra={"XDG_RUNTIME_DIR": run.mkdir("auto-xdg")})

        def stop_autostarted():
            for pid in keyroled_pids(sock):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            krtest.wait_until(lambda: not keyroled_pids(sock), timeout=5)
            for pid in keyroled_pids(sock):
                os.kill(pid, signal.SIGKILL)
        run.add_cleanup(stop_autostarted)
        # status: starts the daemon but needs no STS call or keyring write.
        results = krtest.start_many([[krtest.keyrole(), "status", "--json"]] * 100, env=aenv,
                                    timeout=30)
        bad = [r for r in results if r.rc != 0]
        tap.ok(not bad, "every client got an answer",
               "; ".join("rc=%r %s" % (r.rc, r.stderr.strip()) for r in bad[:3]))
        pids = keyroled_pids(sock)
        tap.is_(len(pids), 1, "one keyroled runs for the socket")
        answered = {json.loads(r.stdout).get("pid") for r in results if r.rc == 0}
        tap.is_(answered, set(pids), "every client talked to that daemon")
        rc, out, err = sh([krtest.keyrole(), "get", "prod"], aenv)
        tap.ok(rc == 0 and len(keyroled_pids(sock)) == 1, "get through it; still one daemon",
               (rc, err))
        rc, out, err = sh([krtest.keyrole(), "forget", "--all"], aenv)  # nothing left behind
        tap.ok(rc == 0 and out.startswith("forgot "), "forget --all through it", (rc, out, err))


if __name__ == "__main__":
    krtest.main(main)
