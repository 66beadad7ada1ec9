#!/usr/bin/env python3
"""The SDKs behind Terraform and most infrastructure tools, as Debian ships
them, use keyrole against the real keyroled and moto's STS (auth enforced):

- the AWS SDK for Go v2 (golang-github-aws-aws-sdk-go-v2-dev) and v1
  (golang-github-aws-aws-sdk-go-dev), each a small program in tests/sdk/
  built offline with Debian's golang-go in GOPATH mode against
  /usr/share/gocode (no module proxy; into build/sdk-go, also under SANITIZE=1);
- the AWS SDK for Ruby (ruby-aws-sdk-core, which carries Aws::STS).

Paths: credential_process for the chained role (prod-admin, assumed from
prod, assumed from dev's keys) for all three; keyrole exec (environment) and
keyrole exec --server (the container endpoint, AWS_CONTAINER_CREDENTIALS_FULL_URI
to 127.0.0.1 with AWS_CONTAINER_AUTHORIZATION_TOKEN, which both Go SDKs
accept) for Go. Ruby's aws-sdk-core 3.168 reads only the RELATIVE_URI of the
container endpoint: under --server it finds no credentials (checked, as
documented).
These SDKs predate AWS_ENDPOINT_URL_STS: each program takes moto's URL from
KR_STS_URL and sets it with the SDK's own endpoint option.

Also the forms of the credential_process profile that these SDKs read
otherwise than botocore (doc/botocore-differences.md): a quoted path, a
comment after a value, a continued line.

Nothing skips: a missing package or a failed build fails, saying why
(`make deps` installs them).
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402

SESSION = "kr-test"
GOCODE = "/usr/share/gocode"
# The Debian package that provides each import path the programs need.
GO_PKGS = {"v2": ("golang-github-aws-aws-sdk-go-v2-dev", "github.com/aws/aws-sdk-go-v2",
                  ("config", "credentials/processcreds", "credentials/endpointcreds",
                   "service/sts")),
           "v1": ("golang-github-aws-aws-sdk-go-dev", "github.com/aws/aws-sdk-go",
                  ("aws/session", "aws/credentials/processcreds",
                   "aws/credentials/endpointcreds", "service/sts"))}


# How each SDK reads forms of the credential_process profile that botocore
# reads otherwise (doc/botocore-differences.md, "The Go and Ruby SDKs of
# Debian 12"): profile -> its lines, and which consumers get the role.
FORMS = {
    "form-quoted": 'credential_process = "KEYROLE" get prod-admin\nregion = us-east-1\n',
    "form-comment": "credential_process = KEYROLE get prod-admin # a note\nregion = us-east-1\n",
    "form-region-comment": "credential_process = KEYROLE get prod-admin\n"
                           "region = us-east-1 # a note\n",
    "form-none": "region = us-east-1\n",
    "form-continued": "credential_process = KEYROLE get\n  prod-admin\nregion = us-east-1\n",
}
FORM_WORKS = {  # (go-v2, go-v1, ruby, boto3)
    "form-quoted": (False, False, True, True),
    "form-comment": (True, True, True, False),
    "form-region-comment": (True, True, False, False),
    "form-continued": (False, False, False, True),
}
BOTO3 = ("import boto3,sys\n"
         "s=boto3.Session(profile_name=sys.argv[1])\n"
         "print(s.client('sts',endpoint_url=sys.argv[2]).get_caller_identity()['Arn'])\n")


def sh(argv, env, timeout=120):
    p = subprocess.run(argv, env=krtest.clean_env(env), capture_output=True, timeout=timeout,
                       cwd="/", stdin=subprocess.DEVNULL, start_new_session=True)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def build_go(tap, ver):
    """build/sdk-go/go-VER, built from tests/sdk/go-VER; None (and a
    failed test) when it cannot be."""
    go = shutil.which("go", path=krtest.CALLER_ENV.get("PATH"))
    deb, root, pkgs = GO_PKGS[ver]
    if not go:
        tap.ok(False, "go is installed", "no go on PATH: apt-get install golang-go (make deps)")
        return None
    missing = [p for p in pkgs if not os.path.isdir(os.path.join(GOCODE, "src", root, p))]
    if not tap.ok(not missing, "%s has %s" % (deb, ", ".join(pkgs)),
                  "missing under %s/src/%s: %s (apt-get install %s; make deps)"
                  % (GOCODE, root, " ".join(missing), deb)):
        return None
    # Not sanitized, so one copy for both runs of make check: the tree's build/.
    out = os.path.join(krtest.repo_root(), "build", "sdk-go")
    os.makedirs(out, exist_ok=True)
    exe = os.path.join(out, "go-" + ver)
    src = os.path.join(krtest.repo_root(), "tests", "sdk", "go-" + ver, "main.go")
    # GOPATH mode: Debian's /usr/share/gocode is the workspace; nothing is fetched.
    env = {"GO111MODULE": "off", "GOPATH": os.path.join(out, "gopath") + ":" + GOCODE,
           "GOPROXY": "off", "GOFLAGS": "", "GOTOOLCHAIN": "local", "GOENV": "off",
           "GOCACHE": os.path.join(out, "cache"), "HOME": out, "CGO_ENABLED": "0"}
    rc, _, err = sh([go, "build", "-o", exe, src], env, timeout=600)
    if not tap.is_(rc, 0, "go build of tests/sdk/go-%s against Debian's SDK" % ver,
                   err.strip()[-1500:]):
        return None
    return exe


def check(tap, what, argv, env, want_arn, want_source):
    rc, out, err = sh(argv, env)
    doc = {}
    if rc == 0:
        try:
            doc = json.loads(out)
        except ValueError:
            pass
    tap.is_((rc, doc.get("arn")), (0, want_arn), "%s: GetCallerIdentity is %s"
            % (what, want_arn), err.strip()[-600:])
    tap.is_(doc.get("source"), want_source, "%s: credentials from %s" % (what, want_source))


def main(tap, run):
    krtest.require_file(krtest.keyrole(), "keyrole")
    krtest.require_file(krtest.keyroled(), "keyroled")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=[SESSION])
    home = run.home()
    cfg, creds = krtest.chain_config(seed, session_name=SESSION)
    kr = krtest.keyrole()
    for prof, text in FORMS.items():
        cfg += "\n[profile %s]\n%s" % (prof, text.replace("KEYROLE", kr))
    krtest.write_aws_config(home, cfg, creds)
    daemon = run.daemon(home)
    env = krtest.aws_env(home, socket_path=daemon.socket, endpoint_url=moto.url,
                         extra={"KEYROLE_NO_AUTOSTART": "1", "KR_STS_URL": moto.url})
    admin_arn = krtest.session_arn("prod-admin", SESSION)
    prod_arn = krtest.session_arn("prod", SESSION)

    exes = {}
    for ver in ("v2", "v1"):
        with tap.test("Go SDK %s: the test program builds offline" % ver):
            exes[ver] = build_go(tap, ver)

    for ver, src in (("v2", "ProcessProvider"), ("v1", "ProcessProvider")):
        with tap.test("Go SDK %s runs keyrole as credential_process for a chained role" % ver):
            if not tap.ok(exes[ver], "the go-%s program was built" % ver):
                continue
            for prof, want in (("kr-prod-admin", admin_arn), ("kr-prod", prod_arn)):
                check(tap, "go-%s %s" % (ver, prof), [exes[ver], prof], env, want, src)

    with tap.test("Ruby SDK (aws-sdk-core) runs keyrole as credential_process"):
        ruby = shutil.which("ruby", path=krtest.CALLER_ENV.get("PATH"))
        p = subprocess.run([ruby or "ruby", "-e", "require 'aws-sdk-core'; Aws::STS::Client"],
                           capture_output=True, text=True, timeout=60) if ruby else None
        if tap.ok(p and p.returncode == 0, "ruby with aws-sdk-core and Aws::STS",
                  "apt-get install ruby ruby-aws-sdk-core (make deps): %s"
                  % (p.stderr.strip()[-300:] if p else "no ruby on PATH")):
            script = os.path.join(krtest.repo_root(), "tests", "sdk", "ruby", "sts.rb")
            for prof, want in (("kr-prod-admin", admin_arn), ("kr-prod", prod_arn)):
                check(tap, "ruby %s" % prof, [ruby, script, prof], env, want,
                      "Aws::ProcessCredentials")

    with tap.test("the profile forms the Go and Ruby SDKs read otherwise than botocore"):
        ruby = shutil.which("ruby", path=krtest.CALLER_ENV.get("PATH"))
        script = os.path.join(krtest.repo_root(), "tests", "sdk", "ruby", "sts.rb")
        consumers = (("go-v2", [exes["v2"]]), ("go-v1", [exes["v1"]]), ("ruby", [ruby, script]),
                     ("boto3", [sys.executable, "-c", BOTO3]))
        if tap.ok(exes["v2"] and exes["v1"] and ruby, "the programs and ruby are there"):
            for prof, works in FORM_WORKS.items():
                for (name, argv), want in zip(consumers, works):
                    extra = [moto.url] if name == "boto3" else []
                    rc, out, err = sh(argv + [prof] + extra, env)
                    got = rc == 0 and admin_arn in out
                    tap.is_(got, want, "%s %s: %s" % (name, prof, "works" if want else "fails"),
                            err.strip()[-300:])

    # The child of exec gets no profile (the config has no [default]): the
    # SDK's default chain must find the environment (exec) or the container
    # endpoint (exec --server); the source it names tells which.
    with tap.test("Go SDK v2 under keyrole exec reads the environment"):
        if tap.ok(exes["v2"], "the go-v2 program was built"):
            check(tap, "exec prod-admin -- go-v2",
                  [krtest.keyrole(), "exec", "--no-server", "prod-admin", "--", exes["v2"], "-"],
                  env, admin_arn, "EnvConfigCredentials")

    for ver in ("v2", "v1"):
        with tap.test("Go SDK %s under keyrole exec --server reads the container endpoint"
                      % ver):
            if tap.ok(exes[ver], "the go-%s program was built" % ver):
                check(tap, "exec --server prod-admin -- go-%s" % ver,
                      [krtest.keyrole(), "exec", "--server", "prod-admin", "--",
                       exes[ver], "-"], env, admin_arn, "CredentialsEndpointProvider")

    # Documented (doc/botocore-differences.md): a Ruby program under --server
    # must use exec without it. If this starts working, say so there.
    with tap.test("Ruby SDK under keyrole exec --server finds no credentials (RELATIVE_URI only)"):
        ruby = shutil.which("ruby", path=krtest.CALLER_ENV.get("PATH"))
        script = os.path.join(krtest.repo_root(), "tests", "sdk", "ruby", "sts.rb")
        if tap.ok(ruby, "ruby is installed"):
            rc, out, err = sh([krtest.keyrole(), "exec", "--server", "prod-admin", "--",
                               ruby, script, "form-none"], env)
            tap.ok(rc != 0 and "MissingCredentialsError" in err,
                   "aws-sdk-core fails: MissingCredentialsError", (rc, out, err[-600:]))


if __name__ == "__main__":
    krtest.main(main)
