#!/bin/sh
# The build's own flags survive a CFLAGS/CPPFLAGS given on the command line
# (as packagers and `make CFLAGS=-O0` do): warnings stay errors, hardening
# and dependency tracking stay on. Checked with `make -n`, which builds nothing.
set -u
cd "$KR_SRC" || exit 1
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }

out=$(make -n -B SANITIZE= CFLAGS=-O0 CPPFLAGS=-DKR_PACKAGER build/daemon/agent.o build/keyroled 2>&1)
compile=$(printf '%s\n' "$out" | grep -e ' -c -o build/daemon/agent.o ' | head -n 1)
link=$(printf '%s\n' "$out" | grep -e '-o build/keyroled ' | head -n 1)
for f in -O0 -DKR_PACKAGER -D_GNU_SOURCE '-iquote daemon' -Werror -Wall -Wextra \
	-fstack-protector-strong -fPIE -MMD; do
	case " $compile " in
	*" $f "*) ok "make CFLAGS=-O0 CPPFLAGS=...: compile keeps $f" ;;
	*) nok "make CFLAGS=-O0 CPPFLAGS=...: compile keeps $f ($compile)" ;;
	esac
done
for f in -pie -Wl,-z,relro,-z,now; do
	case " $link " in
	*" $f "*) ok "make CFLAGS=-O0: link keeps $f" ;;
	*) nok "make CFLAGS=-O0: link keeps $f ($link)" ;;
	esac
done
echo "1..$n"
exit $fail
