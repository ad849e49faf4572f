#!/usr/bin/env bash
# tools/run-linux-native.sh [qemu|bochs|qemu-kernel] [KERNEL-ARG...]
#
# The native baseline: boots build/linux/vmlinuz + build/linux/initrd.img (make linux-guest)
# WITHOUT Kestrel, so its PASS/FAIL lines and timings can be compared with the same guest under
# the hypervisor.
#   qemu          QEMU TCG + OVMF (default)
#   bochs         Bochs (corei7_skylake_x) + OVMF; several minutes
#   qemu-kernel   QEMU TCG, SeaBIOS, -kernel/-initrd (the fastest)
# Through OVMF the kernel boots as an EFI application via its EFI stub: a FAT disk holds
# KERNEL.EFI (the bzImage), initrd.img and a startup.nsh that OVMF's built-in UEFI shell runs,
# passing the command line (the stub loads initrd= itself from the same volume).
#
# Environment: TIMEOUT (seconds; default 180, Bochs 1200), CMDLINE (replaces the default
# "console=ttyS0 quiet", to which KERNEL-ARGs are added; Bochs also gets the time-only options
# of ../shared/TESTHOSTS.md). Logs: build/linux/native-HOST/ (com1.txt raw serial, com1.clean.txt,
# emulator output). Prints the guest's lines and the wall-clock time to userspace and to the end;
# exits 0 when the guest printed its "KESTREL-LINUX: DONE" line, 1 otherwise.
#
# Sourced (tests/boot/run-case does, for HOST=bochs-native cases), it only defines
# linux_native_esp, the image builder both share, and runs nothing.

# linux_native_esp IMG KERNEL INITRD CMDLINE: builds IMG, the FAT volume OVMF boots the kernel
# from: a bare FAT (no partition table; both emulators' OVMF boot it), a multiple of 16 heads x
# 63 sectors for Bochs' geometry, holding KERNEL.EFI (the bzImage: its EFI stub), initrd.img and
# startup.nsh, which OVMF's built-in UEFI shell runs: "\KERNEL.EFI initrd=\initrd.img CMDLINE"
# (the stub loads initrd= itself from the same volume). The startup.nsh is also left beside IMG,
# for the logs. Returns nonzero with a message on stderr when something is missing or fails.
linux_native_esp() {
	local img=$1 kernel=$2 initrd=$3 cmdline=$4 tool f payload cyl cyls tmp nsh
	for tool in mformat mcopy; do
		command -v "$tool" >/dev/null || { echo "$tool missing (apt-get install mtools)" >&2; return 1; }
	done
	for f in "$kernel" "$initrd"; do
		[[ -f "$f" ]] || { echo "$f missing (make linux-guest)" >&2; return 1; }
	done
	payload=$(($(stat -c %s "$kernel") + $(stat -c %s "$initrd")))
	cyl=$((16 * 63 * 512))
	cyls=$(((payload + payload / 4 + 4 * 1024 * 1024 + cyl - 1) / cyl))
	nsh=$(dirname -- "$img")/startup.nsh
	tmp=$img.tmp
	rm -f "$tmp"
	if ! {
		printf 'fs0:\r\n\\KERNEL.EFI initrd=\\initrd.img %s\r\n' "$cmdline" >"$nsh" &&
			truncate -s $((cyls * cyl)) "$tmp" &&
			MTOOLS_SKIP_CHECK=1 mformat -i "$tmp" -h 16 -s 63 -t "$cyls" -v LINUX :: &&
			MTOOLS_SKIP_CHECK=1 mcopy -i "$tmp" "$kernel" ::/KERNEL.EFI &&
			MTOOLS_SKIP_CHECK=1 mcopy -i "$tmp" "$initrd" ::/initrd.img &&
			MTOOLS_SKIP_CHECK=1 mcopy -i "$tmp" "$nsh" ::/startup.nsh &&
			mv -f "$tmp" "$img"
	}; then
		rm -f "$tmp"
		echo "building $img failed" >&2
		return 1
	fi
}

# Sourced: the function only.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

set -euo pipefail

die() { echo "run-linux-native: $*" >&2; exit 1; }

host=${1:-qemu}
(($# == 0)) || shift
case "$host" in
qemu | bochs | qemu-kernel) ;;
*) die "usage: $0 [qemu|bochs|qemu-kernel] [KERNEL-ARG...]" ;;
esac

root=$(cd "$(dirname -- "$0")/.." && pwd)
cd "$root"
# shellcheck source=tools/lib/emu.sh
source tools/lib/emu.sh
kernel=build/linux/vmlinuz
initrd=build/linux/initrd.img
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
vgabios=/usr/share/vgabios/vgabios.bin
[[ -f "$kernel" && -f "$initrd" ]] || die "$kernel or $initrd missing: run 'make linux-guest'"

cmdline=${CMDLINE:-console=ttyS0 quiet}
# Under Bochs the kernel cannot calibrate the TSC (50 MHz: Bochs' ips) and would run its clock
# far slow: tell it the rate (tests/boot/cases/bochs-linux-native.case says more).
[[ "$host" != bochs || -n "${CMDLINE:-}" ]] ||
	cmdline+=" mitigations=off rodata=off nokaslr cryptomgr.notests tsc_early_khz=50000"
(($# == 0)) || cmdline+=" $*"
if [[ "$host" == bochs ]]; then
	timeout=${TIMEOUT:-1200}
else
	timeout=${TIMEOUT:-180}
fi

dir=build/linux/native-$host
mkdir -p "$dir"
rm -f "$dir"/{esp.img,esp.img.lock,startup.nsh,com1.txt,com1.clean.txt,emu.out,bochsrc,bochs.rc,bochs.log}

if [[ "$host" != qemu-kernel ]]; then
	[[ -f "$ovmf" ]] || die "$ovmf missing (apt-get install ovmf)"
	linux_native_esp "$dir/esp.img" "$kernel" "$initrd" "$cmdline" || die "no boot volume"
fi

emu_pid=""
kill_emu() { # SIGKILL exactly the emulator started here (Bochs ignores SIGTERM)
	if [[ -n "$emu_pid" ]]; then
		kill -KILL "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
		emu_pid=""
	fi
}
trap kill_emu EXIT
trap 'kill_emu; exit 130' INT TERM

start=$SECONDS
case "$host" in
qemu)
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512 -nodefaults \
		-bios "$ovmf" -drive file="$dir/esp.img",format=raw,if=ide \
		-display none -serial file:"$dir/com1.txt" -net none -no-reboot \
		</dev/null >"$dir/emu.out" 2>&1 &
	;;
qemu-kernel)
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512 -nodefaults \
		-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
		-display none -serial file:"$dir/com1.txt" -net none -no-reboot \
		</dev/null >"$dir/emu.out" 2>&1 &
	;;
bochs)
	command -v bochs-bin >/dev/null || die "bochs-bin missing (apt-get install bochs bochsbios bochs-term)"
	[[ -f "$vgabios" ]] || die "$vgabios missing (apt-get install vgabios)"
	# No magic breakpoint: the kernel is not ours, and nothing must stop it.
	bochs_config "$dir/bochsrc" megs=512 cpu=corei7_skylake_x disk="$dir/esp.img" \
		ovmf="$ovmf" com1="enabled=1, mode=file, dev=$dir/com1.txt" log="$dir/bochs.log" \
		magic_break=0
	bochs_start "$dir/bochsrc" "$dir/emu.out"
	;;
esac
emu_pid=$!

clean() {
	serial_clean "$dir/com1.txt" "$dir/com1.clean.txt" || true
}

# Poll the serial log: userspace, the DONE line, the emulator ending, or the time running out.
t_user="" t_done="" result="timeout after ${timeout}s"
while :; do
	sleep 1
	clean
	if [[ -z "$t_user" ]] && grep -q '^KESTREL-LINUX: userspace reached' "$dir/com1.clean.txt"; then
		t_user=$((SECONDS - start))
	fi
	if grep -q '^KESTREL-LINUX: DONE' "$dir/com1.clean.txt"; then
		t_done=$((SECONDS - start))
		result="done"
	elif grep -qE 'reboot: (Power down|System halted)|Kernel panic' "$dir/com1.clean.txt"; then
		result="the guest stopped without its DONE line"
	fi
	if [[ "$result" != timeout* ]]; then
		# QEMU powers off by itself; without ACPI tables (OVMF on Bochs) the kernel only halts.
		for _ in 1 2 3 4 5; do
			kill -0 "$emu_pid" 2>/dev/null || break
			sleep 1
		done
		break
	fi
	if ! kill -0 "$emu_pid" 2>/dev/null; then
		result="the emulator ended first"
		break
	fi
	((SECONDS - start < timeout)) || break
done
kill_emu
clean
! grep -q '^KESTREL-LINUX: DONE' "$dir/com1.clean.txt" || result="done"

if grep -q '^KESTREL-LINUX: userspace reached' "$dir/com1.clean.txt"; then
	sed -n '/^KESTREL-LINUX: userspace reached/,$p' "$dir/com1.clean.txt"
else
	tail -n 30 "$dir/com1.clean.txt"
fi
echo "native-$host: userspace after ${t_user:-?}s, DONE after ${t_done:-?}s wall clock" \
	"(cmdline: $cmdline; logs in $dir/)"
[[ "$result" == "done" ]] || { echo "native-$host: FAIL: $result" >&2; exit 1; }
