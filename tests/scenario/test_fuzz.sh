#!/bin/sh
# Run each libFuzzer harness (tests/fuzz/fuzz_*.c) briefly: first over its
# seeds and saved regression inputs (tests/fuzz/corpus/NAME/ plus the test
# data that feeds the same parser), then mutating for FUZZ_SECONDS (default
# 5 s in `make check`; `make fuzz` sets 60 and keeps the grown corpus in
# $KR_BUILD/fuzz/corpus/NAME/). Prints TAP; a crash, leak, UB report or
# timeout is "not ok" and its input is kept in $KR_BUILD/fuzz/artifacts/.
set -u
: "${KR_BUILD:?KR_BUILD must point at the build directory}"
KR_SRC=${KR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
secs=${FUZZ_SECONDS:-5}
keep=${FUZZ_KEEP:-0}
fz="$KR_BUILD/fuzz"
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# The test data each harness also starts from (the parser's real inputs).
extra_seeds() {
	case "$1" in
	ini | profile) echo "$KR_SRC/tests/data/config" ;;
	sts_xml) echo "$KR_SRC/tests/data/sts" ;;
	esac
}

if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	skip "fuzzers build" "clang not installed (apt-get install clang libclang-rt-14-dev)"
	echo "1..$n"
	exit 0
fi
log=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$log"' EXIT INT TERM
if make -C "$KR_SRC" --no-print-directory -j2 B="$KR_BUILD" fuzzers >"$log" 2>&1; then
	ok "fuzzers build (clang, libFuzzer + ASan + UBSan)"
else
	notok "fuzzers build (clang, libFuzzer + ASan + UBSan)"
	tail -n 30 "$log" | sed 's/^/# /'
	echo "1..$n"
	exit 1
fi

mkdir -p "$fz/artifacts"
for src in "$KR_SRC"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	bin="$fz/$name"
	seeds="$KR_SRC/tests/fuzz/corpus/$short"
	if [ "$keep" = 1 ]; then
		work="$fz/corpus/$short"
	else
		work="$tmp/$short"
	fi
	mkdir -p "$work"
	# shellcheck disable=SC2046 # extra_seeds prints at most one path
	set -- "$work" $( [ -d "$seeds" ] && echo "$seeds") $(extra_seeds "$short")
	# -timeout: one input may not take a second (a hang is a bug: the daemon
	# handles every request on one loop). -rss_limit_mb bounds memory.
	ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
		UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
		timeout -k 5 $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=1 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$fz/artifacts/$short-" "$@" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		ok "$name: no crash, leak or UB in ${runs:-?} runs (${secs} s)"
	else
		notok "$name: exit $rc after ${runs:-?} runs"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^    #[0-9]' "$log" |
			head -n 40 | sed 's/^/# /'
	fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
