#!/bin/sh
# Install the Debian packages that building and testing keyrole need.
# Quick and silent when everything is present; apt-get when root; otherwise
# print the exact command and fail.
set -eu

PKGS="build-essential pkg-config libssl-dev libcurl4-openssl-dev libcjson-dev
libexpat1-dev libsystemd-dev libsecret-1-dev libkeyutils-dev keyutils
libcmocka-dev gnome-keyring libsecret-tools dbus dbus-x11 clang
libclang-rt-14-dev clang-format valgrind hyperfine awscli mandoc tmux zsh fish systemd procps
gdb openssh-client python3 ca-certificates
golang-go golang-github-aws-aws-sdk-go-v2-dev golang-github-aws-aws-sdk-go-dev
ruby ruby-aws-sdk-core debhelper dpkg-dev lintian git"

# The consumers and the STS emulator the tests drive that Debian does not
# provide for this python3: moto, boto3 and the AWS CLI v1 come with the
# machine's python3 (there is no PyPI here to install them from).
python_missing=$(python3 -c '
import importlib.util as u
print(" ".join(m for m in ("moto", "boto3", "botocore", "awscli") if not u.find_spec(m)))' 2>/dev/null ||
	echo "(python3 failed)")
[ -n "$python_missing" ] && python_missing=" $python_missing"
command -v moto_server >/dev/null 2>&1 || python_missing="$python_missing moto_server"
if [ -n "$python_missing" ]; then
	echo "keyrole: python3 ($(command -v python3)) lacks:$python_missing" >&2
	echo "keyrole: the tests need moto (moto_server), boto3 and the AWS CLI v1 installed for" >&2
	echo "keyrole: this python3 (pip install moto[server] boto3 awscli where PyPI is reachable)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
# Node.js and npm for the JavaScript SDK test: any installed node will do,
# else Debian's.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "keyrole: missing Debian packages:$missing" >&2
	echo "keyrole: run as root: apt-get update && $cmd" >&2
	exit 1
fi
echo "keyrole: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
