#!/bin/sh
# Run every test and print one closing line: "N passed, N failed, N skipped".
# Unit tests are cmocka programs (TAP output); scenario tests are scripts in
# tests/scenario/ that print TAP ("ok N - name", "not ok N - name",
# "ok N - name # SKIP reason"). A program that exits non-zero without
# reporting a failure counts as one failure.
# TESTS="WORD ..." runs only the tests whose name contains one of the words
# (TESTS=keyring: test_keyring, test_keyring.py, test_keyring_daemon.py).
set -u
: "${KR_BUILD:?KR_BUILD must point at the build directory}"
export KR_BUILD
export KR_SRC="$(cd "$(dirname "$0")/.." && pwd)"
export CMOCKA_MESSAGE_OUTPUT=TAP
pass=0 fail=0 skip=0
failed_names=""
only="${TESTS:-}"

# TESTS="a b": run only the tests whose name contains a or b (all if unset).
selected() {
	[ -z "$only" ] && return 0
	for word in $only; do
		case "$1" in *"$word"*) return 0 ;; esac
	done
	return 1
}

run_one() {
	name=$1
	shift
	selected "$name" || return
	out=$(mktemp)
	start=$(date +%s)
	"$@" >"$out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	p=$(grep -cE '^ok ' "$out" | head -1)
	s=$(grep -cE '^ok .*# (SKIP|skip)' "$out" | head -1)
	f=$(grep -cE '^not ok ' "$out" | head -1)
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited with status $rc" >>"$out"
	fi
	pass=$((pass + p)) skip=$((skip + s)) fail=$((fail + f))
	if [ "$f" -ne 0 ]; then
		failed_names="$failed_names $name"
		echo "== $name: $p passed, $f failed, $s skipped (${secs}s)"
		# Every failure with its diagnostics, then the end of the output.
		grep -A 12 -E '^not ok ' "$out" | sed 's/^/    /' | head -n 200
		echo "    -- last lines:"
		sed 's/^/    /' "$out" | tail -n 15
	else
		echo "== $name: $p passed, $s skipped (${secs}s)"
		grep -E '# (SKIP|skip)' "$out" | sed 's/^/    /'
	fi
	rm -f "$out"
}

for t in "$KR_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
for t in "$KR_SRC"/tests/scenario/test_*; do
	case "$t" in
	*.sh) run_one "$(basename "$t")" sh "$t" ;;
	*.py) run_one "$(basename "$t")" python3 "$t" ;;
	esac
done

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
