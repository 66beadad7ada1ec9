#!/bin/sh
# Install the Debian packages that building and testing keyrole need.
# Quick and silent when everything is present; apt-get when root; otherwise
# print the exact command and fail.
set -eu

PKGS="build-essential pkg-config libssl-dev libcurl4-openssl-dev libcjson-dev
libexpat1-dev libsystemd-dev libsecret-1-dev libkeyutils-dev keyutils
libcmocka-dev gnome-keyring libsecret-tools dbus dbus-x11 clang
libclang-rt-14-dev clang-format valgrind hyperfine awscli mandoc tmux zsh systemd procps
python3 ca-certificates"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
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
