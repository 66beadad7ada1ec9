#!/bin/sh
# The client is started for every credential lookup, so it links libc and
# nothing else (libcurl alone costs ~10 ms of start-up, and even loading
# libcjson made a cached `keyrole get` 1.45x /bin/true). The normal build is
# a static PIE with full RELRO: no dynamic loader at all. Under SANITIZE=1
# it is dynamic (the sanitizer runtimes are shared libraries) and must still
# need nothing heavy.
set -u
bin="$KR_BUILD/keyrole"
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...
	desc=$1
	shift
	if "$@"; then ok "$desc"; else nok "$desc"; fi
}

if [ ! -x "$bin" ]; then
	nok "client binary exists at $bin"
	echo "1..$n"
	exit 1
fi
dyn=$(readelf -dW "$bin")
phdrs=$(readelf -lW "$bin")
needed=$(printf '%s\n' "$dyn" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
has() { printf '%s\n' "$1" | grep -qE "$2"; }

for lib in libcurl libcrypto libssl libsecret libglib libgio libgobject libsystemd libexpat \
	libkeyutils libcjson; do
	check "client does not link $lib" eval '! has "$needed" "^$lib"'
done
# ldd sees transitive dependencies too (and says "statically linked" for a static one).
check "no heavy library is pulled in transitively" \
	eval '! ldd "$bin" 2>&1 | grep -qE "libcurl|libcrypto|libsecret|libglib|libsystemd|libcjson"'
check "position independent (ELF type DYN)" eval 'readelf -hW "$bin" | grep -q "Type: *DYN"'
check "full RELRO: GNU_RELRO segment" has "$phdrs" 'GNU_RELRO'
check "full RELRO: BIND_NOW" has "$dyn" '\((FLAGS|FLAGS_1)\).*(BIND_NOW|NOW)'
check "non-executable stack" eval 'printf "%s\n" "$phdrs" | grep -E "GNU_STACK" | grep -qv "RWE"'

if [ "${SANITIZE:-0}" = 1 ]; then
	others=$(printf '%s\n' "$needed" | grep -v -e '^libc\.so' -e '^ld-linux' -e '^$' \
		-e '^libasan' -e '^libubsan')
	check "sanitizer build: client needs only libc and the sanitizer runtimes${others:+ (also: $(echo $others))}" \
		test -z "$others"
else
	check "static-pie: no program interpreter (no dynamic loader runs)" eval '! has "$phdrs" "INTERP"'
	check "static-pie: no NEEDED entry${needed:+ (needs: $(echo $needed))}" test -z "$needed"
fi
echo "1..$n"
exit $fail
