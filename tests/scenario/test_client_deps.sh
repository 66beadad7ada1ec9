#!/bin/sh
# The client is started for every credential lookup: it links libc and
# nothing else (libcurl alone costs ~10 ms of start-up, and even loading
# libcjson made a cached `keyrole get` 1.45x /bin/true).
set -u
bin="$KR_BUILD/keyrole"
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }

if [ ! -x "$bin" ]; then
	nok "client binary exists at $bin"
	echo "1..$n"
	exit 1
fi
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for lib in libcurl libcrypto libssl libsecret libglib libgio libgobject libsystemd libexpat libkeyutils libcjson; do
	if printf '%s\n' "$needed" | grep -q "^$lib"; then
		nok "client does not link $lib"
	else
		ok "client does not link $lib"
	fi
done
others=$(printf '%s\n' "$needed" | grep -v -e '^libc\.so' -e '^ld-linux' -e '^$' \
	-e '^libasan' -e '^libubsan')
if [ -z "$others" ]; then
	ok "client links only libc"
else
	nok "client links only libc (also: $(echo $others))"
fi
# ldd sees transitive dependencies too.
if ldd "$bin" | grep -qE 'libcurl|libcrypto|libsecret|libglib|libsystemd|libcjson'; then
	nok "no heavy library is pulled in transitively"
else
	ok "no heavy library is pulled in transitively"
fi
echo "1..$n"
exit $fail
