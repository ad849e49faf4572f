#!/usr/bin/env bash
# tools/deps.sh [PACKAGE...] — install the Debian 12 packages Kestrel's build, tests and
# `make run` need, and any extra PACKAGEs a target asks for (make bench passes its own).
# A fast no-op when everything is installed. As root it installs what is missing with apt-get
# (running `apt-get update` only then); otherwise it prints the exact sudo command and exits 1.
set -euo pipefail

PACKAGES=(
	gnu-efi nasm gcc make binutils          # build: hypervisor (PE32+ via gnu-efi)
	libcmocka-dev                            # build: host unit tests
	ovmf                                     # UEFI firmware for both emulators
	bochs bochsbios vgabios bochs-term       # Bochs: VT-x + EPT emulation
	qemu-system-x86                          # QEMU: TCG (no VT-x) and KVM (nested VT-x)
	mtools gdisk dosfstools                  # disk images without loop mounts
	clang libclang-rt-14-dev llvm            # make fuzz: libFuzzer; llvm-symbolizer for its reports
	socat                                    # make run under Bochs: its serial port <-> this terminal
	cpio                                     # Linux test guest: its initramfs (guest/linux/linux.mk)
	"$@"
)

# One dpkg-query for all of them; unknown packages are simply absent from its output.
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
	awk '$2 == "install" && $3 == "ok" && $4 == "installed" {print $1}' | tr '\n' ' ' || true) "
missing=()
for pkg in "${PACKAGES[@]}"; do
	[[ "$installed" == *" $pkg "* ]] || missing+=("$pkg")
done

((${#missing[@]} == 0)) && exit 0

if (($(id -u) != 0)); then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root, or:" >&2
	echo "sudo apt-get install -y ${missing[*]}"
	exit 1
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
