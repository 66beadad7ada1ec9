#!/usr/bin/env python3
"""Differential test: keyrole's profile resolution against botocore's.

For every case directory tests/data/config/NAME/ (files: config,
credentials (optional), expected.json), each profile named in
expected.json is resolved twice:

 - by botocore (the installed one), through a real botocore Session built
   with AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE. The STS client's
   AssumeRole is intercepted (no network): every call is recorded in order
   with RoleArn, ExternalId, SerialNumber, DurationSeconds, the endpoint URL,
   the signing region and the access key id it was signed with, and fake
   role credentials are returned. credential_process is intercepted too
   (the command line is recorded, nothing runs).
 - by keyrole: $KR_BUILD/tests/tools/profile_check PROFILE, the same JSON
   that `keyrole check` prints.

IAM Identity Center sources: botocore's token loading is replaced by a
token that is always there and valid (so the configuration checks of its
SSOProvider and SSOTokenProvider still run), and the portal's
GetRoleCredentials is intercepted like AssumeRole: account, role, portal
endpoint and region are recorded, and role credentials named after the
account and role are returned.

Web identity: botocore's AssumeRoleWithWebIdentity is intercepted the same
way (role, session name and endpoint recorded; the token file is read by
botocore itself). Instance metadata and container credentials are real:
botocore asks local fakes (tests/lib/fake_imds.py, fake_container.py),
named in a case by "{imds}" and "{container}" (in its env and its config;
"{case}" is the case's directory), and keyrole's source step must name the
same endpoint.

Then the role ARNs in order, their parameters, the endpoints, the source
(an IAM Identity Center source with its account, role, portal endpoint and
region) and error-or-not are compared. expected.json maps each profile to
"same", to "same-message" (both fail and keyrole's message contains
botocore's word for word) or to the id of a documented difference (a
"## id" heading in doc/botocore-differences.md); a listed difference must
really occur, so the list cannot go stale. Output is TAP.

expected.json: {"env": {VAR: VALUE}, "profiles": {NAME: "same" | "same-message" | ID},
                "aws_profile": true?}
With "aws_profile", botocore gets the profile from AWS_PROFILE (its default
chain, where the caller's web identity variables count) instead of
Session(profile=NAME).
"{case}" in a VALUE is the case directory.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("KR_SRC") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KR_BUILD") or os.path.join(SRC, "build")
TOOL = os.path.join(BUILD, "tests", "tools", "profile_check")
CASES = os.path.join(SRC, "tests", "data", "config")
DOC = os.path.join(SRC, "doc", "botocore-differences.md")

sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
from fake_container import FakeContainer  # noqa: E402
from fake_imds import FakeImds  # noqa: E402

CONTAINER_TOKEN = "diff-container-token"

try:
    import botocore
    import botocore.client
    import botocore.credentials
    import botocore.session
    import botocore.utils
except ImportError:
    botocore = None


def clean_env(case_dir, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = tempfile.gettempdir()  # no real ~/.aws is ever read
    env["AWS_CONFIG_FILE"] = os.path.join(case_dir, "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(case_dir, "credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never wait for IMDS
    env.update(extra)
    return env


def request_endpoint(client, operation_name, params):
    """Where botocore sends the call and the region it signs for: its
    endpoint ruleset's answer (FIPS, dual-stack and the partitions are
    decided there; client.meta.endpoint_url is the older resolver's)."""
    op = client._service_model.operation_model(operation_name)
    ctx = {"client_region": client.meta.region_name, "client_config": client.meta.config,
           "has_streaming_input": False, "auth_type": op.resolved_auth_type}
    url, _, _ = client._resolve_endpoint_ruleset(op, params, ctx)
    region = ctx.get("signing", {}).get("region") or client._request_signer._region_name
    return url, region


def botocore_resolve(case_dir, profile, extra_env, aws_profile=False):
    """How botocore resolves profile: {"calls": [...], "source": ...} or
    {"error": ...}."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(clean_env(case_dir, extra_env))
    if aws_profile:
        os.environ["AWS_PROFILE"] = profile
    calls = []
    sso_calls = []
    orig_call = botocore.client.BaseClient._make_api_call
    orig_proc = botocore.credentials.ProcessProvider._retrieve_credentials_using
    orig_token = botocore.utils.SSOTokenLoader.__call__

    def fake_call(self, operation_name, params):
        if operation_name == "GetRoleCredentials":
            sso_calls.append({"account_id": params.get("accountId"),
                              "role_name": params.get("roleName"),
                              "endpoint": request_endpoint(self, operation_name, params)[0],
                              "region": self.meta.region_name})
            return {"roleCredentials": {
                "accessKeyId": "SSO:%s/%s" % (params.get("accountId"), params.get("roleName")),
                "secretAccessKey": "s", "sessionToken": "t", "expiration": 4070908800000}}
        if operation_name == "AssumeRoleWithWebIdentity":
            return {"Credentials": {
                "AccessKeyId": "WEBID|%s|%s|%s" % (params.get("RoleArn"),
                                                   params.get("RoleSessionName"),
                                                   request_endpoint(self, operation_name, params)[0]),
                "SecretAccessKey": "s", "SessionToken": "t",
                "Expiration": "2099-01-01T00:00:00Z"}}
        if operation_name != "AssumeRole":
            raise RuntimeError("unexpected STS call " + operation_name)
        signer = self._request_signer
        creds = signer._credentials.get_frozen_credentials()
        endpoint, region = request_endpoint(self, operation_name, params)
        calls.append({
            "role_arn": params.get("RoleArn"),
            "external_id": params.get("ExternalId"),
            "mfa_serial": params.get("SerialNumber"),
            "duration": params.get("DurationSeconds", 0),
            "endpoint": endpoint,
            "region": region,
            "source": creds.access_key,
        })
        n = len(calls)
        return {"Credentials": {
            "AccessKeyId": "ASIAROLE%08d" % n, "SecretAccessKey": "s%d" % n,
            "SessionToken": "t%d" % n, "Expiration": "2099-01-01T00:00:00Z"}}

    def fake_proc(self, command):
        return {"access_key": "PROCESS:" + command, "secret_key": "x",
                "token": None, "expiry_time": None}

    def fake_token(self, start_url, session_name=None):
        return {"accessToken": "token", "expiresAt": "2099-01-01T00:00:00Z"}

    botocore.client.BaseClient._make_api_call = fake_call
    botocore.credentials.ProcessProvider._retrieve_credentials_using = fake_proc
    botocore.utils.SSOTokenLoader.__call__ = fake_token
    try:
        session = botocore.session.Session(profile=None if aws_profile else profile)
        resolver = session.get_component("credential_provider")
        ar = resolver.get_provider("assume-role")
        ar._prompter = lambda prompt: "123456"
        creds = session.get_credentials()
        if creds is None:
            return {"none": True}
        frozen = creds.get_frozen_credentials()
        source = calls[0]["source"] if calls else frozen.access_key
        return {"calls": calls, "source": source, "sso": sso_calls}
    except Exception as e:  # botocore's errors are what we compare
        return {"error": "%s: %s" % (type(e).__name__, e)}
    finally:
        botocore.client.BaseClient._make_api_call = orig_call
        botocore.credentials.ProcessProvider._retrieve_credentials_using = orig_proc
        botocore.utils.SSOTokenLoader.__call__ = orig_token
        os.environ.clear()
        os.environ.update(saved)


class Daemon:
    """A keyroled for `keyrole check --json` (the path users take)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kr-diff-")
        self.socket = os.path.join(self.dir, "s", "agent.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = self.dir
        self.proc = subprocess.Popen([os.path.join(BUILD, "keyroled"), "--socket", self.socket,
                                      "--cache", "memory"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(self.socket) or self.proc.poll() is not None:
                break
            time.sleep(0.01)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def keyrole_check(daemon, case_dir, profile, extra_env):
    """`keyrole check PROFILE --json` through the daemon -> the report list."""
    env = clean_env(case_dir, extra_env)
    env["KEYROLE_SOCKET"] = daemon.socket
    env["KEYROLE_NO_AUTOSTART"] = "1"
    p = subprocess.run([os.path.join(BUILD, "keyrole"), "check", profile, "--json"], env=env,
                       capture_output=True, text=True, timeout=30)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {"crash": "exit %d: %s" % (p.returncode, p.stderr.strip())}


def keyrole_resolve(case_dir, profile, extra_env, daemon=None):
    p = subprocess.run([TOOL, profile], env=clean_env(case_dir, extra_env),
                       capture_output=True, text=True, timeout=30)
    if p.returncode not in (0, 1):
        return {"crash": "exit %d: %s" % (p.returncode, p.stderr.strip())}
    rep = json.loads(p.stdout)
    if daemon is not None:
        via = keyrole_check(daemon, case_dir, profile, extra_env)
        if via != rep:
            return {"crash": "keyrole check --json differs from the library's report: %s"
                    % json.dumps(via)[:300]}
    if len(rep) != 1:
        return {"crash": "expected one report, got %d" % len(rep)}
    rep = rep[0]
    errors = [x for x in rep["problems"] if x["severity"] == "error"]
    if errors:
        return {"error": errors[0]["message"]}
    steps = rep["steps"]
    src = steps[0]
    calls = [{"role_arn": s["role_arn"], "external_id": s.get("external_id"),
              "mfa_serial": s.get("mfa_serial"), "duration": s["duration"],
              "endpoint": s["endpoint"], "region": s.get("region")}
             for s in steps[1:]]
    return {"calls": calls, "source_step": src}


def source_matches(bsource, step, fakes=None):
    """Does botocore's source access key match keyrole's source step?"""
    t = step["type"]
    if t == "web-identity":
        return bsource == "WEBID|%s|%s|%s" % (step.get("role_arn"), step.get("session_name"),
                                              step.get("endpoint"))
    if t == "imds":  # botocore got its keys from the fake keyrole names
        return (fakes is not None and (bsource or "").startswith("ASIAIMDS")
                and step.get("url") == fakes["imds"])
    if t == "container":
        return (fakes is not None and (bsource or "").startswith("ASIACONT")
                and step.get("url") == fakes["container"])
    if t == "process":
        return bsource == "PROCESS:" + step.get("command", "")
    if t in ("static", "environment"):
        masked = step.get("access_key_id", "")
        return bsource is not None and masked == "****" + bsource[-4:]
    if t == "sso":
        return bsource == "SSO:%s/%s" % (step.get("account_id"), step.get("role_name"))
    return False


def sso_step(step):
    """keyrole's IAM Identity Center source as botocore's GetRoleCredentials record."""
    return [{"account_id": step.get("account_id"), "role_name": step.get("role_name"),
             "endpoint": step.get("endpoint"), "region": step.get("region")}]


def compare(b, k, fakes=None):
    """None when equal, else a one-line description of the difference."""
    if "crash" in k:
        return "keyrole tool failed: " + k["crash"]
    if "error" in b or "error" in k:
        if "error" in b and "error" in k:
            return None
        if "error" in b:
            return "botocore fails (%s), keyrole resolves" % b["error"]
        return "keyrole fails (%s), botocore resolves" % k["error"]
    if "none" in b:
        return "botocore finds no credentials, keyrole resolves to %s" % (
            k["source_step"]["type"])
    if not source_matches(b["source"], k["source_step"], fakes):
        return "source differs: botocore %r, keyrole %s" % (
            b["source"], json.dumps(k["source_step"]))
    bc = [{x: c[x] for x in c if x != "source"} for c in b["calls"]]
    if bc != k["calls"]:
        return "AssumeRole calls differ: botocore %s, keyrole %s" % (
            json.dumps(bc), json.dumps(k["calls"]))
    if k["source_step"]["type"] == "sso" and b["sso"] != sso_step(k["source_step"]):
        return "GetRoleCredentials differs: botocore %s, keyrole %s" % (
            json.dumps(b["sso"]), json.dumps(sso_step(k["source_step"])))
    return None


def botocore_message(b):
    """botocore's error message without the exception's class name."""
    return b["error"].split(": ", 1)[1] if ": " in b["error"] else b["error"]


def documented_ids():
    ids = set()
    try:
        with open(DOC, encoding="utf-8") as f:
            for line in f:
                if line.startswith("## "):
                    ids.add(line[3:].split()[0].strip("`"))
    except OSError:
        pass
    return ids


def main():
    n = 0
    failed = 0

    def tap(ok, name, note=""):
        nonlocal n, failed
        n += 1
        if not ok:
            failed += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, note))
        sys.stdout.flush()

    cases = sorted(d for d in os.listdir(CASES)
                   if os.path.isfile(os.path.join(CASES, d, "expected.json")))
    if botocore is None:
        print("1..1")
        print("ok 1 - botocore differential # SKIP botocore is not installed "
              "(pip install botocore)")
        return 0
    if not os.access(TOOL, os.X_OK):
        print("1..1")
        print("not ok 1 - %s is missing (run make tests)" % TOOL)
        return 1
    ids = documented_ids()
    print("# botocore %s" % botocore.__version__)
    daemon = Daemon()
    imds = FakeImds(mode="v2-only")
    container = FakeContainer(token=CONTAINER_TOKEN)
    fakes = {"imds": imds.url, "container": container.url,
             "container_token": CONTAINER_TOKEN}
    try:
        return run_cases(cases, ids, daemon, tap, lambda: (n, failed), fakes)
    finally:
        daemon.stop()
        imds.stop()
        container.stop()


def render(text, case_dir, fakes):
    for k, v in (("{case}", case_dir), ("{imds}", fakes["imds"]),
                 ("{container}", fakes["container"]),
                 ("{container_token}", fakes["container_token"])):
        text = text.replace(k, v)
    return text


def case_files(case_dir, fakes):
    """The directory to run a case in: its own, or a rendered copy when its
    config names a placeholder (-> (dir, temporary dir to remove or None))."""
    with open(os.path.join(case_dir, "config"), encoding="utf-8") as f:
        text = f.read()
    if "{" not in text:
        return case_dir, None
    tmp = tempfile.mkdtemp(prefix="kr-diff-case-")
    with open(os.path.join(tmp, "config"), "w", encoding="utf-8") as f:
        f.write(render(text, case_dir, fakes))
    creds = os.path.join(case_dir, "credentials")
    if os.path.exists(creds):
        shutil.copy(creds, os.path.join(tmp, "credentials"))
    return tmp, tmp


def run_cases(cases, ids, daemon, tap, counts, fakes):
    for case in cases:
        src = os.path.join(CASES, case)
        with open(os.path.join(src, "expected.json"), encoding="utf-8") as f:
            exp = json.load(f)
        extra = {k: render(v, src, fakes) for k, v in exp.get("env", {}).items()}
        d, tmp = case_files(src, fakes)
        try:
            run_profiles(case, d, exp, extra, ids, daemon, tap, fakes)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
    n, failed = counts()
    print("1..%d" % n)
    return 1 if failed else 0


def run_profiles(case, d, exp, extra, ids, daemon, tap, fakes):
    for prof, want in exp["profiles"].items():
        name = "%s/%s" % (case, prof)
        b = botocore_resolve(d, prof, extra, exp.get("aws_profile", False))
        k = keyrole_resolve(d, prof, extra, daemon)
        diff = compare(b, k, fakes)
        if want == "same":
            tap(diff is None, name, "" if diff is None else "")
            if diff:
                print("#   " + diff)
        elif want == "same-message":
            same = ("error" in b and "error" in k
                    and botocore_message(b) in k["error"])
            tap(same, name)
            if not same:
                print("#   botocore: %s" % b.get("error", "resolves"))
                print("#   keyrole:  %s" % k.get("error", k.get("crash", "resolves")))
        elif want not in ids:
            tap(False, name)
            print("#   difference %r is not documented in %s" % (want, DOC))
        elif diff is None:
            tap(False, name)
            print("#   listed as difference %r but botocore and keyrole agree" % want)
        else:
            tap(True, name, " # known difference: %s" % want)
            print("#   " + diff)


if __name__ == "__main__":
    sys.exit(main())
