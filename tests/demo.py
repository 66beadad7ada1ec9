"""A guided tour of keyrole against a local STS (moto_server), for a person.

Run by `make demo` (through tests/demo.sh, which installs what is missing and
builds first). Everything it starts listens on 127.0.0.1 or a private Unix
socket, runs with a private HOME, and is stopped by PID at the end. No secret
is printed: access key ids are masked, secret keys and tokens never shown.

Environment: KR_BUILD (the build directory, default ./build), KR_SRC.
"""

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")), "tests", "lib"))
import krtest  # noqa: E402

WARM_CALLS = 20
WIDTH = 72


class DemoError(Exception):
    """Something the demo needs failed; the message says what."""


def heading(n, title):
    print()
    print("%d. %s" % (n, title))
    print("-" * min(WIDTH, len(title) + 3))


def say(text):
    print(textwrap.fill(" ".join(text.split()), WIDTH))


def show(text, indent="    "):
    for line in text.rstrip("\n").splitlines():
        print(indent + line)


def mask(akid):
    return ("****" + akid[-4:]) if akid and len(akid) > 4 else "****"


def timed(argv, env, timeout=60):
    """Run argv with clean_env(env) -> (CompletedProcess with str output, ms)."""
    t = time.perf_counter()
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, cwd="/")
    ms = (time.perf_counter() - t) * 1000
    return subprocess.CompletedProcess(p.args, p.returncode,
                                       p.stdout.decode("utf-8", "replace"),
                                       p.stderr.decode("utf-8", "replace")), ms


def keyrole(args, env, timeout=60):
    return timed([krtest.keyrole()] + list(args), env, timeout)


def expect_ok(p, what, daemon=None):
    if p.returncode != 0:
        msg = "%s failed (exit %d): %s" % (what, p.returncode, (p.stderr or p.stdout).strip())
        if daemon is not None:
            msg += "\nlast lines of the keyroled log:\n" + daemon.log_text()[-1500:]
        raise DemoError(msg)


def find_aws_v1(path):
    """The AWS CLI v1 on PATH (pip's; /usr/bin/aws is v2 and ignores
    AWS_ENDPOINT_URL_STS). -> (path, version line) or (None, reason)."""
    seen = []
    for d in path.split(os.pathsep):
        exe = os.path.join(d, "aws")
        if not os.access(exe, os.X_OK) or exe in seen:
            continue
        seen.append(exe)
        try:
            p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60,
                               env=krtest.clean_env(), stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        ver = (p.stdout + p.stderr).strip().splitlines()
        if ver and ver[0].startswith("aws-cli/1."):
            return exe, ver[0]
    return None, "no AWS CLI v1 on PATH (found: %s)" % (", ".join(seen) or "none")


def demo(run):
    print("keyrole demo: fresh AWS role credentials from a per-user cache")
    print("=" * WIDTH)
    say("""This tour starts a local STS (moto_server) with signature and IAM
        checks on, a keyroled daemon with a private HOME and socket, and then
        uses keyrole the way the AWS CLI does: through credential_process.""")

    # 1. STS -------------------------------------------------------------
    heading(1, "A local STS with a user and a role chain")
    krtest.require_file(krtest.keyrole(), "keyrole")
    krtest.require_file(krtest.keyroled(), "keyroled")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=["keyrole-demo"])
    say("""moto_server listens on %s. It holds the IAM user dev-user (with one
        access key) and two roles: prod, which dev-user may assume, and
        prod-admin, which only the prod role session may assume. Signature
        and IAM policy enforcement are on, as on real AWS.""" % moto.url)
    show("dev-user    %s" % seed["user_arn"])
    for r in ("prod", "prod-admin"):
        show("%-11s %s" % (r, seed["roles"][r]))

    # 2. Configuration ------------------------------------------------------
    heading(2, "~/.aws/config: the chain, and the profiles the tools use")
    home = run.home("demo-home")
    cfg_text, creds_text = krtest.chain_config(seed, session_name="keyrole-demo")
    cfg, creds = krtest.write_aws_config(home, cfg_text, creds_text)
    say("""The profiles dev, prod and prod-admin hold the chain (static keys
        -> prod -> prod-admin). The profiles kr-NAME are the ones tools use:
        they only run `keyrole get NAME`. They must be separate profiles:
        botocore ignores credential_process in a profile that has role_arn.""")
    with open(cfg) as f:
        text = f.read()
    wanted = ("dev", "prod", "prod-admin", "kr-prod", "kr-prod-admin")
    for block in text.split("\n\n"):
        head = block.strip().splitlines()[0] if block.strip() else ""
        if any(head == "[profile %s]" % w for w in wanted):
            show(block.strip().replace(krtest.keyrole(), "keyrole"))
            print()
    show("(~/.aws/credentials holds the dev keys: %s / ****)" % mask(seed["access_key_id"]))

    # 3. The daemon -----------------------------------------------------------
    heading(3, "keyroled, the per-user daemon")
    d = run.daemon(home, cache="memory", log_level="info")
    env = krtest.aws_env(home, socket_path=d.socket, endpoint_url=moto.url,
                         extra={"KEYROLE_NO_AUTOSTART": "1", "AWS_EC2_METADATA_DISABLED": "true",
                                "AWS_PAGER": ""})
    say("""keyroled runs with --cache memory (nothing persists; on a desktop it
        would use the Secret Service or the kernel keyring) on a private
        socket. Every client sends its own environment with the request:
        here AWS_ENDPOINT_URL_STS points STS at moto.""")
    show("socket   %s" % d.socket)
    show("AWS_ENDPOINT_URL_STS=%s" % moto.url)
    p, _ = keyrole(["version"], env)
    expect_ok(p, "keyrole version", d)
    show(p.stdout)

    heading(4, "keyrole check: how a profile resolves (nothing sent to AWS)")
    p, _ = keyrole(["check", "prod-admin"], env)
    expect_ok(p, "keyrole check prod-admin", d)
    show(p.stdout)

    # 5. Cold and warm -------------------------------------------------------------
    heading(5, "The first call and the cached ones")
    say("""The first `keyrole get prod-admin` makes two AssumeRole calls (dev ->
        prod -> prod-admin). Every later call is answered from the daemon's
        memory: no network, no crypto, no disk. Times are wall-clock times of
        the whole keyrole process, as the AWS CLI would see them.""")
    p, cold_ms = keyrole(["get", "prod-admin"], env)
    expect_ok(p, "keyrole get prod-admin", d)
    cred = json.loads(p.stdout)
    show("Version %s, AccessKeyId %s, Expiration %s" % (cred.get("Version"),
         mask(cred.get("AccessKeyId")), cred.get("Expiration")))
    warm = []
    for _ in range(WARM_CALLS):
        p, ms = keyrole(["get", "prod-admin"], env)
        expect_ok(p, "keyrole get prod-admin (cached)", d)
        if json.loads(p.stdout).get("AccessKeyId") != cred.get("AccessKeyId"):
            raise DemoError("a cached call returned other credentials than the first")
        warm.append(ms)
    show("cold (2 STS calls)      %8.2f ms" % cold_ms)
    show("cached, median of %-3d  %8.2f ms   (fastest %.2f ms)"
         % (WARM_CALLS, statistics.median(warm), min(warm)))
    true_ms = statistics.median(timed(["/bin/true"], {})[1] for _ in range(WARM_CALLS))
    show("for scale: /bin/true    %8.2f ms   (median; the cost of any new process)" % true_ms)

    # 6. AWS CLI -------------------------------------------------------------------
    heading(6, "The AWS CLI through credential_process")
    aws, ver = find_aws_v1(krtest.CALLER_ENV.get("PATH", ""))
    if not aws:
        raise DemoError(ver + "; install it with pip (awscli) to run this step")
    say("""Each command below is a separate AWS CLI process (%s) that runs
        `keyrole get NAME` for its credentials and then calls
        sts:GetCallerIdentity on moto with them.""" % ver.split()[0])
    for prof in ("kr-prod", "kr-prod-admin"):
        argv = [aws, "sts", "get-caller-identity", "--profile", prof, "--output", "json"]
        p, ms = timed(argv, env, timeout=120)
        show("$ aws sts get-caller-identity --profile %s" % prof, indent="  ")
        expect_ok(p, "aws sts get-caller-identity --profile %s" % prof, d)
        arn = json.loads(p.stdout).get("Arn", "?")
        show("Arn: %s   (%.0f ms, mostly Python start-up)" % (arn, ms))

    # 7. Status ----------------------------------------------------------------------
    heading(7, "keyrole status: what the daemon holds (never a secret)")
    p, _ = keyrole(["status"], env)
    expect_ok(p, "keyrole status", d)
    show(p.stdout)

    # 8. A refusal -------------------------------------------------------------------
    heading(8, "When AWS says no")
    say("""The role "denied" trusts another user. keyrole exits with status 5
        (AWS refused) and one line on stderr; stdout stays empty, so the
        AWS CLI shows that line.""")
    p, _ = keyrole(["get", "denied"], env)
    show("$ keyrole get denied", indent="  ")
    show("exit status %d" % p.returncode)
    show(p.stderr.strip())
    if p.returncode != 5 or p.stdout:
        raise DemoError("keyrole get denied: expected exit 5 and empty stdout, got %d"
                        % p.returncode)


def _stop(signo, frame):
    raise SystemExit(128 + signo)


def main():
    signal.signal(signal.SIGTERM, _stop)
    code = 1
    run = krtest.Run()
    try:
        demo(run)
        code = 0
    except krtest.Skip as e:
        print("\ndemo cannot run: %s" % e, file=sys.stderr)
    except DemoError as e:
        print("\ndemo failed: %s" % e, file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        heading(9, "Clean-up")
        run.close()  # stops keyroled and moto_server by PID, removes the temp dir
        print("    stopped keyroled and moto_server, removed %s" % run.dir)
    if code == 0:
        print("\nDone. See keyrole(1), keyroled(8) and keyrole-config(5).")
    sys.exit(code)


if __name__ == "__main__":
    if not shutil.which("python3"):
        sys.exit("python3 missing")
    main()
