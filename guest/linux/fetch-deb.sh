#!/usr/bin/env bash
# guest/linux/fetch-deb.sh PACKAGE DIR PATTERN... — download Debian's PACKAGE with apt-get and
# unpack the files matching the tar PATTERNs (e.g. './boot/vmlinuz-*') into DIR/root (dpkg-deb,
# no root needed, nothing installed). A metapackage (linux-image-amd64) is resolved first to the
# versioned package it depends on. Cached: once DIR/.done exists nothing is downloaded again
# (delete DIR to fetch anew). Prints the resolved package name on stdout.
set -euo pipefail

die() { echo "fetch-deb: $*" >&2; exit 1; }

(($# >= 3)) || die "usage: $0 PACKAGE DIR PATTERN..."
pkg=$1 dir=$2
shift 2

for tool in apt-get apt-cache dpkg-deb tar; do
	command -v "$tool" >/dev/null || die "$tool not found (this needs a Debian host)"
done

if [[ -f "$dir/.done" ]]; then
	cat "$dir/.done"
	exit 0
fi

# The first Depends of a metapackage is the real one (linux-image-amd64 ->
# linux-image-6.1.0-NN-amd64); a real package resolves to itself.
resolve() {
	local dep
	apt-cache show "$pkg" >/dev/null 2>&1 || return 1
	dep=$(apt-cache depends --important "$pkg" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	echo "${dep:-$pkg}"
}

if ! real=$(resolve); then
	if (($(id -u) == 0)); then
		echo "fetch-deb: apt knows no package $pkg: running apt-get update" >&2
		apt-get update -q >&2 || die "apt-get update failed"
		real=$(resolve) || die "apt still knows no package $pkg after apt-get update"
	else
		die "apt knows no package $pkg: its package lists are missing or stale; run 'sudo apt-get update'"
	fi
fi

rm -rf "$dir"
mkdir -p "$dir/deb"
echo "fetch-deb: downloading $real" >&2
# apt-get download writes into the current directory; as root it warns that the _apt user
# cannot write there, which is harmless.
(cd "$dir/deb" && apt-get download -q "$real" 2>&1 | grep -v "unsandboxed as root" >&2) || true
deb=$(find "$dir/deb" -maxdepth 1 -name "${real}_*.deb" | head -n 1)
[[ -n "$deb" ]] || die "apt-get download $real produced no .deb (no network, or stale package lists: run apt-get update as root)"
mkdir -p "$dir/root"
# dpkg-deb -x would unpack everything (the kernel package's modules are ~400 MB): only PATTERNs.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir/root" --wildcards "$@" ||
	die "unpacking $* from $deb failed"
rm -rf "$dir/deb"
echo "$real" >"$dir/.done"
echo "$real"
