#!/usr/bin/env python3
"""The AWS SDKs' shared profile-file specification against botocore and
keyrole check.

tests/data/sdk-profile-parser/profile-parser-tests.json (Apache-2.0, with
its LICENSE, NOTICE and README) holds the cases the Go, JavaScript, Java
and Rust SDKs' parsers pass. For each case, its files are written out and:

 1. keyrole's reading (tests/tools/ini_dump: daemon/ini.c) must equal
    botocore's (botocore.configloader.raw_config_parse, the parser of the
    installed botocore), or both must refuse the file;
 2. botocore's profiles (configloader.load_config for the config file, the
    credentials file's sections as they are) are compared with the
    specification's expected output: they agree or not;
 3. `keyrole check --json` over every profile (tests/tools/profile_check,
    the same JSON) must warn that the other SDKs read a line differently
    (or, where botocore refuses the file, report that error) exactly where
    they do not agree, and must not warn where they agree.

Output is TAP.
"""
import json
import os
import subprocess
import sys
import tempfile

SRC = os.environ.get("KR_SRC") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KR_BUILD") or os.path.join(SRC, "build")
DATA = os.path.join(SRC, "tests", "data", "sdk-profile-parser", "profile-parser-tests.json")
DUMP = os.path.join(BUILD, "tests", "tools", "ini_dump")
CHECK = os.path.join(BUILD, "tests", "tools", "profile_check")
SDK_WORDS = "other AWS SDKs"

try:
    import botocore
    import botocore.configloader as configloader
except ImportError:
    botocore = None


def write_files(d, inp):
    paths = {}
    for key, name in (("configFile", "config"), ("credentialsFile", "credentials")):
        p = os.path.join(d, name)
        if key in inp:
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write(inp[key])
        paths[name] = p
    return paths


def botocore_raw(path):
    try:
        return configloader.raw_config_parse(path)
    except Exception as e:  # botocore's refusal is what we compare
        return {"error": type(e).__name__}


def keyrole_raw(path):
    p = subprocess.run([DUMP, path], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return {"crash": p.stderr.strip()}
    return json.loads(p.stdout)


def nested(v):
    """The specification's "\\nk = v" sub-property text as botocore's dict."""
    if not isinstance(v, str) or not v.startswith("\n"):
        return v
    out = {}
    for line in v.split("\n")[1:]:
        k, _, val = line.partition("=")
        out[k.strip()] = val.strip()
    return out


def botocore_profiles(inp, paths):
    """botocore's profiles and sso-sessions in the specification's shape."""
    out = {"profiles": {}, "sso_sessions": {}}
    try:
        if "configFile" in inp:
            c = configloader.load_config(paths["config"])
            for k, v in c.get("profiles", {}).items():
                out["profiles"][k] = dict(v)
            for k, v in c.get("sso_sessions", {}).items():
                out["sso_sessions"][k] = dict(v)
        if "credentialsFile" in inp:
            for k, v in configloader.raw_config_parse(paths["credentials"]).items():
                out["profiles"].setdefault(k, {}).update(v)
    except Exception as e:  # noqa: BLE001
        return {"error": type(e).__name__}
    return out


def agrees(b, want):
    if "errorContaining" in want:
        return "error" in b
    if "error" in b:
        return False
    cfg = want["config"]
    spec_profiles = {p: {k: nested(v) for k, v in kv.items()}
                     for p, kv in cfg["profiles"].items()}
    if b["profiles"] != spec_profiles:
        return False
    return "sso_sessions" not in cfg or b["sso_sessions"] == cfg["sso_sessions"]


def check(paths, home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=home, AWS_CONFIG_FILE=paths["config"],
               AWS_SHARED_CREDENTIALS_FILE=paths["credentials"])
    p = subprocess.run([CHECK], env=env, capture_output=True, text=True, timeout=30)
    if p.returncode not in (0, 1):
        return None
    problems = [x for rep in json.loads(p.stdout) for x in rep["problems"]]
    return problems


def main():
    if botocore is None:
        print("1..1\nok 1 - SDK specification # SKIP botocore is not installed")
        return 0
    for tool in (DUMP, CHECK):
        if not os.access(tool, os.X_OK):
            print("1..1\nnot ok 1 - %s is missing (run make tests)" % tool)
            return 1
    with open(DATA, encoding="utf-8") as f:
        cases = json.load(f)["tests"]
    print("# botocore %s, %d cases of the SDKs' specification" % (botocore.__version__,
                                                                   len(cases)))
    n = failed = differ = 0

    def tap(ok, name, *diag):
        nonlocal n, failed
        n += 1
        failed += not ok
        print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
        if not ok:
            for d in diag:
                print("#   " + d)

    for i, case in enumerate(cases, 1):
        name = "case %d (%s)" % (i, case["name"])
        inp = case["input"]
        with tempfile.TemporaryDirectory(prefix="kr-sdk-") as d:
            paths = write_files(d, inp)
            for fname in ("config", "credentials"):
                if not os.path.exists(paths[fname]):
                    continue
                b, k = botocore_raw(paths[fname]), keyrole_raw(paths[fname])
                same = (b == k) or ("error" in b and "error" in k)
                tap(same, "%s: keyrole reads the %s file as botocore does" % (name, fname),
                    "botocore: %s" % json.dumps(b), "keyrole:  %s" % json.dumps(k))
            b = botocore_profiles(inp, paths)
            agree = agrees(b, case["output"])
            differ += not agree
            problems = check(paths, d)
            if problems is None:
                tap(False, "%s: keyrole check runs" % name)
                continue
            sdk = [p for p in problems if SDK_WORDS in p["message"]]
            errors = [p for p in problems if p["severity"] == "error"]
            if agree:
                tap(not sdk, "%s: botocore and the SDKs agree, check does not warn" % name,
                    *["warning: line %d: %s" % (p["line"], p["message"]) for p in sdk])
            else:
                said = sdk or ("error" in b and errors)
                tap(bool(said), "%s: botocore and the SDKs differ, check says where" % name,
                    "SDKs:     %s" % json.dumps(case["output"]),
                    "botocore: %s" % json.dumps(b))
                for p in sdk:
                    print("#   line %d: %s" % (p["line"], p["message"]))
                if not sdk:
                    for p in errors:
                        print("#   line %d (error, as botocore): %s" % (p["line"],
                                                                       p["message"]))
    print("# %d of %d cases read differently by botocore and the SDKs" % (differ, len(cases)))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
