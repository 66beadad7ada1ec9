"""README.md's list of deliberate differences from botocore names every
difference of doc/botocore-differences.md (the long form) by its id: the
"## id" headings the differential test checks, and the "- `id`:" items of
the differences the corpus does not exercise."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402


def main(tap, run):
    root = krtest.repo_root()
    with open(os.path.join(root, "doc", "botocore-differences.md"), encoding="utf-8") as f:
        doc = f.read()
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## Where keyrole reads ~/.aws/config differently from botocore",
                           1)[-1].split("\n## ", 1)[0]
    ids = re.findall(r"^## `?([a-z0-9-]+)`?\s*$", doc, re.M)
    ids += re.findall(r"^- `([a-z0-9-]+)`:", doc, re.M)
    tap.ok(len(ids) >= 15, "the long form has its ids (%d)" % len(ids))
    for i in ids:
        tap.ok("(`%s`" % i in section or "`%s`)" % i in section or ", `%s`" % i in section,
               "README lists %s" % i)


krtest.main(main)
