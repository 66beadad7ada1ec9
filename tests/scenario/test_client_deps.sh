#!/bin/sh
# The client is started for every credential lookup: it may link libc and
# cJSON, nothing heavier (libcurl alone costs ~10 ms of start-up).
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
for lib in libcurl libcrypto libssl libsecret libglib libgio libgobject libsystemd libexpat libkeyutils; do
	if printf '%s\n' "$needed" | grep -q "^$lib"; then
		nok "client does not link $lib"
	else
		ok "client does not link $lib"
	fi
done
others=$(printf '%s\n' "$needed" | grep -v -e '^libc\.so' -e '^libcjson\.so' -e '^ld-linux' -e '^$' \
	-e '^libasan' -e '^libubsan')
if [ -z "$others" ]; then
	ok "client links only libc and cJSON"
else
	nok "client links only libc and cJSON (also: $(echo $others))"
fi
# ldd sees transitive dependencies too.
if ldd "$bin" | grep -qE 'libcurl|libcrypto|libsecret|libglib|libsystemd'; then
	nok "no heavy library is pulled in transitively"
else
	ok "no heavy library is pulled in transitively"
fi
echo "1..$n"
exit $fail
