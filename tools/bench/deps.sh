#!/usr/bin/env bash
# tools/bench/deps.sh — the Debian packages `make bench` needs on top of tools/deps.sh's:
# matplotlib for the chart, Debian's GRUB (EFI image + grub-mkstandalone) to boot the bench
# guest natively in Bochs + OVMF. Like tools/deps.sh: a no-op when installed; as root it
# installs what is missing with apt-get; otherwise it prints the exact command and exits 1.
set -euo pipefail

PACKAGES=(
	python3 python3-matplotlib   # tools/bench/report.py: JSON, CSV, table, bar chart
	grub-efi-amd64-bin grub-common # native Bochs baseline: GRUB loads the multiboot guest
)

installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
	awk '$2 == "install" && $3 == "ok" && $4 == "installed" {print $1}' | tr '\n' ' ' || true) "
missing=()
for pkg in "${PACKAGES[@]}"; do
	[[ "$installed" == *" $pkg "* ]] || missing+=("$pkg")
done

((${#missing[@]} == 0)) && exit 0

if (($(id -u) != 0)); then
	echo "bench-deps: missing packages: ${missing[*]}" >&2
	echo "bench-deps: run as root, or:" >&2
	echo "sudo apt-get install -y ${missing[*]}"
	exit 1
fi

echo "bench-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
