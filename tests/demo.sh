#!/bin/sh
# `make demo`: install the Debian packages keyrole needs (tests/deps.sh),
# build, and run the guided tour in tests/demo.py against a local moto STS.
# Everything the tour starts is stopped by PID before it exits.
set -eu
KR_SRC=$(cd "$(dirname "$0")/.." && pwd)
export KR_SRC
: "${KR_BUILD:=$KR_SRC/build}"
export KR_BUILD

echo "== checking Debian packages (tests/deps.sh)"
sh "$KR_SRC/tests/deps.sh"
echo "== building keyrole and keyroled"
if [ "${SANITIZE:-}" = 1 ]; then
	make -C "$KR_SRC" --no-print-directory -s all SANITIZE=1
else
	make -C "$KR_SRC" --no-print-directory -s all
fi
for b in keyrole keyroled; do
	if [ ! -x "$KR_BUILD/$b" ]; then
		echo "demo: $KR_BUILD/$b was not built" >&2
		exit 1
	fi
done
for t in moto_server python3; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "demo: $t is not on PATH (moto_server comes with pip's moto[server])" >&2
		exit 1
	fi
done
exec python3 "$KR_SRC/tests/demo.py"
