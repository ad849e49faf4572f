#!/usr/bin/env bash
# tools/run.sh IMAGE [HOST] — `make run`: boot a Kestrel disk image interactively.
#
# HOST:
#   kvm    QEMU/KVM with the host CPU (needs nested VT-x: /dev/kvm, vmx in /proc/cpuinfo and
#          kvm_intel nested=Y). Serial on this terminal; the image is booted as it is.
#   bochs  Bochs (emulated VT-x + EPT). Serial to build/run/com1.txt, followed here.
#   qemu   QEMU TCG: no VT-x there, so this shows Kestrel's refusal path.
#   (none) kvm when nested VT-x is available, else bochs.
# Environment: RUN_TIMEOUT (default 600 s; the run is SIGKILLed after it), MEGS (guest RAM, MiB,
# default 1024), CPU (Bochs CPU model, default corei7_skylake_x), OVMF (firmware path).
#
# The image's kestrel.cfg normally says nothing about a harness (harness = none), so Kestrel ends
# the way it would on hardware (ACPI power-off or halt), which under Bochs or TCG may never end the
# emulator. For bochs and qemu this script therefore boots a copy of the image (build/run/) whose
# kestrel.cfg gets the line "harness = bochs|qemu" prepended, exactly as tests/boot/run-case does:
# Kestrel then ends with the emulator's exit device (QEMU isa-debug-exit at 0xf4; Bochs magic
# breakpoint + the rc file's quit). A "harness =" line already in the file is commented out in
# place, so error messages name the original line + 1. kvm boots the image unchanged.
# Exit status: Kestrel's exit code from its "[hv] exit: code N" line when it printed one.
set -euo pipefail

die() { echo "run: $*" >&2; exit 1; }

(($# >= 1 && $# <= 2)) || die "usage: $0 IMAGE [kvm|bochs|qemu]"
image=$1 host=${2:-}
[[ -f "$image" ]] || die "no such image: $image (make image)"

root=$(cd "$(dirname -- "$0")/.." && pwd)
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
MEGS=${MEGS:-1024}
CPU=${CPU:-corei7_skylake_x}
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
[[ -f "$ovmf" ]] || die "$ovmf missing (apt-get install ovmf)"
[[ "$RUN_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "RUN_TIMEOUT must be a positive number of seconds"

nested_vtx() { # true when QEMU/KVM can give a guest VT-x
	local nested
	[[ -e /dev/kvm ]] && grep -qw vmx /proc/cpuinfo || return 1
	nested=$(cat /sys/module/kvm_intel/parameters/nested 2>/dev/null || true)
	[[ "$nested" == Y || "$nested" == 1 ]]
}

if [[ -z "$host" ]]; then
	if nested_vtx; then host=kvm; else host=bochs; fi
	echo "run: host $host (auto)" >&2
fi

rundir=$root/build/run
mkdir -p "$rundir"

# --- kvm: the image as it is, serial on this terminal (and in build/run/com1.txt) --------------
if [[ "$host" == kvm ]]; then
	nested_vtx || echo "run: warning: no nested VT-x here (/dev/kvm, vmx, kvm_intel nested)" >&2
	rc=0
	timeout -k 5 "$RUN_TIMEOUT" qemu-system-x86_64 -accel kvm -cpu host -m "$MEGS" -bios "$ovmf" \
		-drive file="$image",format=raw -serial stdio -display none -no-reboot |
		tee "$rundir/com1.txt" || rc=${PIPESTATUS[0]}
	((rc != 124)) || echo "run: stopped after RUN_TIMEOUT=${RUN_TIMEOUT}s" >&2
	exit "$rc"
fi
[[ "$host" == bochs || "$host" == qemu ]] || die "unknown host '$host' (kvm, bochs or qemu)"

# --- bochs / qemu: a copy of the image with "harness = HOST" prepended to kestrel.cfg ---------
for tool in mcopy sgdisk; do command -v "$tool" >/dev/null || die "$tool missing (tools/deps.sh)"; done
img=$rundir/kestrel.img
cp --sparse=always "$image" "$img"
first=$(sgdisk -i 1 "$img" 2>/dev/null | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
esp="$img@@$((${first:-2048} * 512))"
export MTOOLS_SKIP_CHECK=1
mcopy -n -i "$esp" ::/kestrel.cfg "$rundir/kestrel.cfg.orig" 2>/dev/null || : >"$rundir/kestrel.cfg.orig"
{
	echo "harness = $host"
	sed -E 's/^([[:space:]]*harness[[:space:]]*=.*)$/# \1 (replaced by tools\/run.sh)/' "$rundir/kestrel.cfg.orig"
} >"$rundir/kestrel.cfg"
mcopy -o -i "$esp" "$rundir/kestrel.cfg" ::/kestrel.cfg
rm -f "$rundir/com1.txt" "$rundir/bochs.log"
: >"$rundir/com1.txt"

emu_pid="" follow_pid=""
# shellcheck disable=SC2317 # (called from traps)
cleanup() { # SIGKILL exactly the emulator started here (Bochs ignores SIGTERM)
	[[ -z "$emu_pid" ]] || kill -KILL "$emu_pid" 2>/dev/null || true
	[[ -z "$follow_pid" ]] || wait "$follow_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "run: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

if [[ "$host" == bochs ]]; then
	command -v bochs-bin >/dev/null || die "bochs-bin missing (apt-get install bochs bochs-term)"
	cat >"$rundir/bochsrc" <<-EOF
		megs: $MEGS
		romimage: file=$ovmf
		vgaromimage: file=/usr/share/vgabios/vgabios.bin
		pci: enabled=1, chipset=i440fx
		cpu: model=$CPU, count=1, ips=50000000, reset_on_triple_fault=0
		display_library: term
		com1: enabled=1, mode=file, dev=$rundir/com1.txt
		ata0-master: type=disk, path=$img, mode=flat
		boot: disk
		log: $rundir/bochs.log
		panic: action=fatal
		error: action=report
		info: action=ignore
		debug: action=ignore
		magic_break: enabled=1
	EOF
	printf 'c\nquit\n' >"$rundir/bochs.rc"
	echo "run: Bochs ($CPU, ${MEGS} MiB), up to ${RUN_TIMEOUT}s; log $rundir/bochs.log" >&2
	# bochs-bin itself (not the wrapper) so that $! is the emulator; its term display goes to a file.
	TERM=xterm bochs-bin -q -unlock -f "$rundir/bochsrc" -rc "$rundir/bochs.rc" \
		</dev/null >"$rundir/bochs.out" 2>&1 &
	emu_pid=$!
else
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
	echo "run: QEMU TCG (no VT-x: expect a refusal), up to ${RUN_TIMEOUT}s" >&2
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m "$MEGS" -nodefaults -bios "$ovmf" \
		-drive file="$img",format=raw,if=ide -display none -serial file:"$rundir/com1.txt" \
		-net none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		</dev/null >"$rundir/qemu.out" 2>&1 &
	emu_pid=$!
fi

# Show the serial log as it grows (ANSI escapes and CRs of OVMF's console stripped) until the
# emulator ends.
tail -n +1 -F --pid="$emu_pid" "$rundir/com1.txt" 2>/dev/null |
	sed -u -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\x1b//g' -e 's/\r//g' &
follow_pid=$!

start=$SECONDS rc=0 timed_out=0
while :; do
	sleep 1 &
	tick=$!
	done_pid="" wrc=0
	wait -n -p done_pid "$emu_pid" "$tick" || wrc=$?
	if [[ "$done_pid" == "$emu_pid" ]]; then
		rc=$wrc
		emu_pid=""
		break
	fi
	if ((SECONDS - start >= RUN_TIMEOUT)); then
		timed_out=1 rc=137
		kill -KILL "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
		emu_pid=""
		break
	fi
done
wait "$follow_pid" 2>/dev/null || true
follow_pid=""
[[ -z "$(tail -c 1 "$rundir/com1.txt")" ]] || echo # the log may stop mid-line

((timed_out == 0)) || echo "run: stopped after RUN_TIMEOUT=${RUN_TIMEOUT}s" >&2
exit_line=$(tr -d '\r' <"$rundir/com1.txt" | grep -aoE '\[hv\] exit: code [0-9]+.*' | tail -n 1 || true)
if [[ -n "$exit_line" ]]; then
	code=$(sed -E 's/.*code ([0-9]+).*/\1/' <<<"$exit_line")
	echo "run: $exit_line (emulator rc $rc; logs in $rundir/)" >&2
	exit "$code"
fi
echo "run: no '[hv] exit' line (emulator rc $rc; logs in $rundir/)" >&2
exit 1
