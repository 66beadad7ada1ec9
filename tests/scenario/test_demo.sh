#!/bin/sh
# `make demo` runs to the end and exits 0 (the tour a new user sees first).
set -u
out=$(mktemp)
start=$(date +%s)
if (cd "$KR_SRC" && KR_BUILD="$KR_BUILD" sh tests/demo.sh) >"$out" 2>&1; then
	echo "ok 1 - make demo exits 0 ($(($(date +%s) - start)) s)"
	rc=0
else
	echo "not ok 1 - make demo exits 0"
	sed 's/^/# /' "$out" | tail -n 40
	rc=1
fi
if grep -q "arn:aws:sts::" "$out"; then
	echo "ok 2 - the AWS CLI printed an assumed-role ARN through keyrole"
else
	echo "not ok 2 - the AWS CLI printed an assumed-role ARN through keyrole"
	rc=1
fi
rm -f "$out"
echo "1..2"
exit $rc
