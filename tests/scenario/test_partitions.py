"""daemon/partitions.def says what the installed botocore's data files say:
every partition of botocore/data/partitions.json, in its order, with its
regionRegex, dnsSuffix, dualStackDnsSuffix, supportsFIPS and
supportsDualStack; the one region it lists by name that its pattern does
not match; and, from botocore/data/endpoints.json, whether the older
resolver has a dual-stack variant for it (or skips it for dual-stack).
The header names the botocore version the table was taken from; a newer
botocore with the same data passes, one with other data fails here, which
is when the table needs its one-line change."""

import ast
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def read_def(path):
    """The PARTITION(...) rows of partitions.def as lists of Python values."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    body = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    rows = []
    for m in re.finditer(r"PARTITION\((.*?)\)\s*(?=PARTITION|\Z)", body, re.S):
        args = m.group(1).replace("NULL", "None")
        rows.append(list(ast.literal_eval("(" + args + ")")))
    return text, rows


def main(tap, run):
    try:
        import botocore
    except ImportError:
        raise krtest.Skip("botocore is not installed")
    root = krtest.repo_root()
    text, rows = read_def(os.path.join(root, "daemon", "partitions.def"))
    m = re.search(r"botocore (\d+\.\d+\.\d+)", text)
    tap.ok(m is not None, "partitions.def names the botocore version it was taken from")
    tap.diag("partitions.def: botocore %s; installed: %s" % (m.group(1) if m else "?",
                                                             botocore.__version__))
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    with open(os.path.join(data, "partitions.json"), encoding="utf-8") as f:
        parts = json.load(f)["partitions"]
    with open(os.path.join(data, "endpoints.json"), encoding="utf-8") as f:
        legacy = {p["partition"]: p for p in json.load(f)["partitions"]}
    tap.is_([r[0] for r in rows], [p["id"] for p in parts],
            "the partitions of partitions.json, in its order")
    skipped = ("aws-iso", "aws-iso-b")  # botocore.regions _UNSUPPORTED_DUALSTACK_PARTITIONS
    for row, p in zip(rows, parts):
        (pid, regex, global_region, dns, ds_dns, fips, ds, legacy_ds, _plain, _fed,
         _console) = row
        out = p["outputs"]
        tap.is_(regex, p["regionRegex"], "%s: regionRegex" % pid)
        tap.is_((dns, ds_dns, bool(fips), bool(ds)),
                (out["dnsSuffix"], out["dualStackDnsSuffix"], out["supportsFIPS"],
                 out["supportsDualStack"]), "%s: suffixes and support" % pid)
        unmatched = sorted(r for r in p["regions"] if not re.match(p["regionRegex"], r))
        tap.is_(unmatched, [global_region] if global_region else [],
                "%s: the region listed by name that the pattern misses" % pid)
        variants = legacy.get(pid, {}).get("defaults", {}).get("variants", [])
        has_ds = pid in skipped or any(v["tags"] == ["dualstack"] for v in variants)
        tap.is_(bool(legacy_ds), has_ds, "%s: endpoints.json's dual-stack variant" % pid)


krtest.main(main)
