#!/usr/bin/env bash
# tools/bench/boot.sh MODE OUTDIR — one boot of the bench guest (build/guest/bench.elf) for
# `make bench`, bounded in wall-clock time; the serial log ends up in OUTDIR/com1.clean.txt.
#
#   kestrel-bochs   Kestrel (build/kestrel.efi) in Bochs + OVMF, kestrel.cfg with one
#                   [guest bench] (memory 16M), image by tools/mkimage.sh; Bochs is run the way
#                   tests/boot/run-case runs it, and the run ends with Kestrel's "[hv] exit" line
#   kestrel-kvm     the same image nested under QEMU/KVM (-cpu host; needs a VT-x host with
#                   kvm_intel nested=1); ends with Kestrel's exit through isa-debug-exit
#   native-bochs    no Kestrel: Bochs + OVMF boots Debian's GRUB (grub-mkstandalone x86_64-efi,
#                   embedded grub.cfg "multiboot /bench.elf; boot") from an ESP holding
#                   bench.elf. Nothing can power Bochs off natively: once the guest's DONE line
#                   is there, this script SIGKILLs the bochs-bin it started
#   native-qemu     no Kestrel: QEMU TCG -kernel bench.elf (host TSC); ends through isa-debug-exit
#
# Environment: TIMEOUT (seconds; default 900 for Bochs, 300 for QEMU), CPU (Bochs model, default
# corei7_skylake_x), OVMF, BOCHS_TIME0 (the emulated RTC's start, default 2024-01-01: fixed, so
# that two Bochs runs are identical instruction for instruction). Exits 0 when the guest printed its "DONE" line (and, under Kestrel,
# "[hv] exit: code 0"), 1 otherwise, 77 when a tool is missing. The emulator is SIGKILLed by PID
# on timeout, on exit and on INT/TERM (Bochs ignores SIGTERM): no run outlives this script.
set -euo pipefail

(($# == 2)) || { echo "usage: $0 kestrel-bochs|kestrel-kvm|native-bochs|native-qemu OUTDIR" >&2; exit 2; }
mode=$1 dir=$2
root=$(cd "$(dirname -- "$0")/../.." && pwd)
cd "$root"
# shellcheck source=tools/lib/emu.sh
source tools/lib/emu.sh

elf=build/guest/bench.elf
efi=build/kestrel.efi
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
vgabios=/usr/share/vgabios/vgabios.bin
cpu=${CPU:-corei7_skylake_x}
megs=256
case $mode in
kestrel-bochs | native-bochs) timeout=${TIMEOUT:-900} ;;
kestrel-kvm | native-qemu) timeout=${TIMEOUT:-300} ;;
*) echo "boot.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
log_limit=$((256 * 1024 * 1024))

die() { echo "bench[$mode]: $*" >&2; exit 1; }
missing() { echo "bench[$mode]: $*" >&2; exit 77; }

[[ -f "$elf" ]] || die "$elf not built (make bench-guest)"
[[ "$mode" == native-qemu || -f "$ovmf" ]] || missing "OVMF firmware $ovmf missing (apt-get install ovmf)"

mkdir -p "$dir"
rm -f "$dir"/{disk.img,disk.img.lock,esp.img,kestrel.cfg,grub.cfg,BOOTX64.EFI,com1.txt,com1.clean.txt,bochs.log,bochs.out,bochsrc,bochs.rc,qemu.out}
clean=$dir/com1.clean.txt
start=$SECONDS
emu_pid=""

kill_emu() {
	if [[ -n "$emu_pid" ]]; then
		kill -KILL "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
		emu_pid=""
	fi
}
trap kill_emu EXIT
trap 'kill_emu; exit 130' INT
trap 'kill_emu; exit 143' TERM

clean_log() {
	serial_clean "$dir/com1.txt" "$clean"
}

# --- the boot volume ------------------------------------------------------------------------
case $mode in
kestrel-*)
	[[ -f "$efi" ]] || die "$efi not built (make)"
	harness=bochs
	[[ "$mode" == kestrel-bochs ]] || harness=qemu
	cat >"$dir/kestrel.cfg" <<-EOF
		harness = $harness
		loglevel = info
		input = off
		[guest bench]
		kernel = bench.elf
		memory = 16M
	EOF
	tools/mkimage.sh "$dir/disk.img" "$efi" "$dir/kestrel.cfg" "$elf" >"$dir/mkimage.out" 2>&1 ||
		die "image build failed: $(tail -n 1 "$dir/mkimage.out")"
	;;
native-bochs)
	command -v grub-mkstandalone >/dev/null || missing "grub-mkstandalone missing (apt-get install grub-common)"
	[[ -d /usr/lib/grub/x86_64-efi ]] || missing "GRUB's x86_64-efi modules missing (apt-get install grub-efi-amd64-bin)"
	# GRUB as a single EFI binary with its config inside: load the multiboot kernel from the
	# ESP it was started from ($root is set to that device by grub-mkstandalone's prefix).
	cat >"$dir/grub.cfg" <<-'EOF'
		set timeout=0
		serial --unit=0 --speed=115200
		terminal_output serial
		insmod part_gpt
		insmod fat
		insmod multiboot
		search --no-floppy --file --set=root /bench.elf
		echo "bench: GRUB loading /bench.elf"
		multiboot /bench.elf
		boot
	EOF
	grub-mkstandalone -O x86_64-efi -o "$dir/BOOTX64.EFI" \
		--modules="part_gpt fat multiboot search search_fs_file serial terminal echo" \
		--locales= --fonts= --themes= \
		"boot/grub/grub.cfg=$dir/grub.cfg" >"$dir/grub.out" 2>&1 ||
		die "grub-mkstandalone failed: $(tail -n 1 "$dir/grub.out")"
	# The same GPT + ESP layout as Kestrel's image: GRUB where Kestrel would be, no config.
	: >"$dir/kestrel.cfg"
	tools/mkimage.sh "$dir/disk.img" "$dir/BOOTX64.EFI" "$dir/kestrel.cfg" "$elf" >"$dir/mkimage.out" 2>&1 ||
		die "image build failed: $(tail -n 1 "$dir/mkimage.out")"
	;;
esac

# --- boot -----------------------------------------------------------------------------------
native_end=0 # 1: the run ends when DONE appears (we kill the emulator ourselves)
case $mode in
*-bochs)
	command -v bochs-bin >/dev/null || missing "bochs-bin missing (apt-get install bochs)"
	[[ -f "$vgabios" ]] || missing "$vgabios missing (apt-get install vgabios)"
	[[ "$mode" == native-bochs ]] && native_end=1
	# A fixed start for the emulated RTC (seconds since 1970, here 2024-01-01 00:00 UTC): by
	# default Bochs starts it at the host's wall-clock time, and firmware and Kestrel poll the RTC
	# (update-in-progress) for a number of instructions that depends on that time, which shifts
	# every later event (such as Kestrel's console drain) against the guest. With time0 fixed,
	# two runs execute exactly the same instructions.
	bochs_time0=${BOCHS_TIME0:-1704067200}
	bochs_config "$dir/bochsrc" megs="$megs" cpu="$cpu" disk="$dir/disk.img" ovmf="$ovmf" \
		com1="enabled=1, mode=file, dev=$dir/com1.txt" log="$dir/bochs.log" \
		time0="$bochs_time0"
	bochs_start "$dir/bochsrc" "$dir/bochs.out"
	emu_out=$dir/bochs.out
	;;
kestrel-kvm)
	[[ -w /dev/kvm ]] || missing "/dev/kvm not usable (needs a VT-x host, kvm_intel nested=1)"
	qemu-system-x86_64 -accel kvm -cpu host -m 1024 -nodefaults -bios "$ovmf" \
		-drive file="$dir/disk.img",format=raw,if=ide -display none \
		-serial file:"$dir/com1.txt" -net none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$dir/qemu.out" 2>&1 &
	emu_pid=$!
	emu_out=$dir/qemu.out
	;;
native-qemu)
	command -v qemu-system-x86_64 >/dev/null || missing "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m $megs -nodefaults -display none \
		-serial file:"$dir/com1.txt" -net none -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$elf" \
		</dev/null >"$dir/qemu.out" 2>&1 &
	emu_pid=$!
	emu_out=$dir/qemu.out
	;;
esac

# Wait, waking every second for the time bound, the log limit and (native Bochs) the DONE line.
timed_out=0 rc=0 done_at=""
while :; do
	sleep 1 &
	tick=$!
	done_pid="" wrc=0
	wait -n -p done_pid "$emu_pid" "$tick" || wrc=$?
	if [[ "$done_pid" == "$emu_pid" ]]; then
		kill "$tick" 2>/dev/null || true
		wait "$tick" 2>/dev/null || true
		rc=$wrc
		emu_pid=""
		break
	fi
	if ((SECONDS - start >= timeout)); then
		timed_out=1
		break
	fi
	for f in "$dir/com1.txt" "$dir/bochs.log" "$emu_out"; do
		if [[ -f "$f" ]] && (($(stat -c %s "$f") > log_limit)); then
			kill_emu
			die "$(basename "$f") grew past $((log_limit >> 20)) MiB: run stopped"
		fi
	done
	if ((native_end)); then
		if [[ -n "$done_at" ]]; then
			break # one more tick for the rest of the output
		fi
		clean_log
		! grep -qaE '^DONE passed=' "$clean" || done_at=$SECONDS
	fi
done
kill_emu
clean_log

secs=$((SECONDS - start))
echo "$secs" >"$dir/seconds"
((timed_out == 0)) || die "timeout after ${timeout}s (last line: $(tail -n 1 "$clean"))"
if [[ "$mode" == kestrel-* ]]; then
	grep -qaE '^\[bench\] DONE passed=[0-9]+ failed=0' "$clean" ||
		die "the bench guest did not finish cleanly (emulator rc $rc; see $clean)"
	grep -qaE '^\[hv\] exit: code 0' "$clean" ||
		die "Kestrel did not end with exit code 0 (see $clean)"
else
	grep -qaE '^DONE passed=[0-9]+ failed=0' "$clean" ||
		die "the bench guest did not finish (emulator rc $rc; see $clean)"
fi
echo "bench[$mode]: done in ${secs}s, log $clean"
