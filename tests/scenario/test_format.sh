#!/bin/sh
# Every C file is formatted with the repo's .clang-format (make format).
set -u
cd "$KR_SRC" || exit 1
if ! command -v clang-format >/dev/null 2>&1; then
	echo "not ok 1 - clang-format is installed (tests/deps.sh installs it)"
	echo "1..1"
	exit 1
fi
bad=""
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find common daemon client tests -name '*.[ch]'); do
	clang-format "$f" | cmp -s - "$f" || bad="$bad $f"
done
if [ -z "$bad" ]; then
	echo "ok 1 - every C file matches .clang-format"
else
	echo "not ok 1 - every C file matches .clang-format"
	echo "# run 'make format'; differing:$bad"
fi
echo "1..1"
[ -z "$bad" ]
