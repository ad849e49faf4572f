#!/usr/bin/env bash
# tools/run.sh IMAGE [HOST] — `make run`: boot a Kestrel disk image, interactively when stdin is
# a terminal.
#
# HOST:
#   kvm    QEMU/KVM with the host CPU (needs nested VT-x: /dev/kvm, vmx in /proc/cpuinfo and
#          kvm_intel nested=Y).
#   bochs  Bochs (emulated VT-x + EPT).
#   qemu   QEMU TCG: no VT-x there, so this shows Kestrel's refusal path.
#   (none) kvm when nested VT-x is available, else bochs.
#
# Two modes (INTERACTIVE=auto|1|0, default auto: 1 when stdin is a terminal):
#   interactive  The first guest's console is this terminal, both ways: its [guest] section's
#                cmdline gets " kestrel.shell" (the Linux guest's /init then starts a shell
#                instead of powering off; `poweroff -f` in it ends the guest, Kestrel prints its
#                summary and the run ends) and Kestrel gets "input = on" (what you type goes to
#                the guest's UART). No time limit unless RUN_TIMEOUT is given.
#                Keys: Bochs: Ctrl-] ends the run (Bochs is killed); everything else, Ctrl-C
#                included, goes to the guest. Bochs' COM1 is a pty (mode=term) that socat
#                connects to this terminal (raw) and copies to build/run/com1.txt.
#                QEMU (kvm, qemu): Ctrl-a x ends the run, Ctrl-a c switches to QEMU's monitor
#                and back, Ctrl-a h lists the keys; Ctrl-C goes to the guest.
#   batch        (stdin not a terminal: CI, scripts) "input = off", the cmdline as it is: the
#                Linux guest runs its checks and powers off, and the run ends by itself, bounded
#                by RUN_TIMEOUT. The serial output is followed here, OVMF's ANSI escapes stripped.
# Kestrel prints a guest's output a line at a time (with its "[name] " prefix), so what you type
# appears when you press Enter.
#
# Environment: RUN_TIMEOUT (seconds, after which the emulator is SIGKILLed; 0 = none; default
# 900 for Bochs and 600 for QEMU in batch mode, none in interactive mode), MEGS (emulator RAM,
# MiB, default 1024: Bochs needs 512 or more for the default 256M Linux guest), CPU (Bochs CPU
# model, default corei7_skylake_x), OVMF (firmware path), INTERACTIVE.
#
# The run boots a copy of the image (build/run/kestrel.img) whose kestrel.cfg
# (build/run/kestrel.cfg; the original in kestrel.cfg.orig) is rewritten:
#   - bochs and qemu: "harness = bochs|qemu" as a new first line, exactly as tests/boot/run-case
#     does, because the image's own kestrel.cfg normally says nothing about a harness and Kestrel
#     would end the way it does on hardware (ACPI power-off or halt), which under Bochs or TCG
#     may never end the emulator. With a harness Kestrel ends with the emulator's exit device
#     (QEMU isa-debug-exit at 0xf4; Bochs magic breakpoint + the rc file's quit). kvm keeps the
#     image's harness: QEMU/KVM ends on the ACPI power-off as hardware would.
#   - "input = on|off" as the next line.
#   - interactive only: " kestrel.shell" appended to the first guest's cmdline line.
# "harness =" and "input =" lines already in the file are commented out in place, so error
# messages name the original line + 2 (+ 1 for kvm).
# Exit status: Kestrel's exit code from its "[hv] exit: code N" line when it printed one; 0 when
# you ended an interactive run with the escape key; 1 otherwise.
set -euo pipefail

die() { echo "run: $*" >&2; exit 1; }

(($# >= 1 && $# <= 2)) || die "usage: $0 IMAGE [kvm|bochs|qemu]"
image=$1 host=${2:-}
[[ -f "$image" ]] || die "no such image: $image (make image)"

root=$(cd "$(dirname -- "$0")/.." && pwd)
# shellcheck source=tools/lib/emu.sh
source "$root/tools/lib/emu.sh"
MEGS=${MEGS:-1024}
CPU=${CPU:-corei7_skylake_x}
ovmf=${OVMF:-/usr/share/ovmf/OVMF.fd}
[[ -f "$ovmf" ]] || die "$ovmf missing (apt-get install ovmf)"
[[ "$MEGS" =~ ^[1-9][0-9]*$ ]] || die "MEGS must be a positive number of MiB"

case "${INTERACTIVE:-auto}" in
auto) if [[ -t 0 ]]; then interactive=1; else interactive=0; fi ;;
1 | yes | on) interactive=1 ;;
0 | no | off) interactive=0 ;;
*) die "INTERACTIVE must be auto, 1 or 0" ;;
esac
((interactive == 0)) || [[ -t 0 ]] || die "interactive mode needs a terminal on stdin"

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
[[ "$host" == kvm || "$host" == bochs || "$host" == qemu ]] ||
	die "unknown host '$host' (kvm, bochs or qemu)"

if ((interactive)); then
	RUN_TIMEOUT=${RUN_TIMEOUT:-0}
elif [[ "$host" == bochs ]]; then
	RUN_TIMEOUT=${RUN_TIMEOUT:-900}
else
	RUN_TIMEOUT=${RUN_TIMEOUT:-600}
fi
[[ "$RUN_TIMEOUT" =~ ^[0-9]+$ ]] || die "RUN_TIMEOUT must be a number of seconds (0: no limit)"

rundir=$root/build/run
mkdir -p "$rundir"

# --- the run copy of the image, with its kestrel.cfg rewritten (see the top) ------------------
for tool in mcopy sgdisk; do command -v "$tool" >/dev/null || die "$tool missing (tools/deps.sh)"; done
img=$rundir/kestrel.img
cp --sparse=always "$image" "$img"
first=$(sgdisk -i 1 "$img" 2>/dev/null | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
esp="$img@@$((${first:-2048} * 512))"
export MTOOLS_SKIP_CHECK=1
mcopy -n -i "$esp" ::/kestrel.cfg "$rundir/kestrel.cfg.orig" 2>/dev/null || : >"$rundir/kestrel.cfg.orig"
if ((interactive)); then input=on; else input=off; fi
replace="input"
[[ "$host" == kvm ]] || replace="harness|input"
{
	[[ "$host" == kvm ]] || echo "harness = $host"
	echo "input = $input"
	# Sections start with "[" (docs/config.md); the first guest is the one whose UART gets the
	# input. CR of CRLF lines is kept except on the lines changed here (a CR inside a line is an
	# error).
	awk -v replace="^[ \t]*($replace)[ \t]*=" -v shell="$interactive" '
		$0 ~ replace { sub(/\r$/, ""); print "# " $0 " (replaced by tools/run.sh)"; next }
		/^[ \t]*\[/ { section++ }
		shell && section == 1 && /^[ \t]*cmdline[ \t]*=/ {
			if ((" " $0 " ") !~ /[ =]kestrel\.shell[ \t\r]/) {
				sub(/[ \t\r]+$/, "")
				$0 = $0 " kestrel.shell"
			}
			shelled = 1
		}
		{ print }
		END {
			if (shell && section && !shelled)
				print "run: note: the first [guest] section has no cmdline line: no kestrel.shell" > "/dev/stderr"
		}' "$rundir/kestrel.cfg.orig"
} >"$rundir/kestrel.cfg"
mcopy -o -i "$esp" "$rundir/kestrel.cfg" ::/kestrel.cfg
rm -f "$rundir/com1.txt" "$rundir/bochs.log" "$rundir/socat.log" "$rundir/com1.pty"
: >"$rundir/com1.txt"

# --- cleanup: the emulator started here (SIGKILL: Bochs ignores SIGTERM), then the terminal ----
emu_pid="" follow_pid="" relay_pid="" saved_tty=""
if ((interactive)); then
	exec 3<&0 # the terminal, for background jobs (bash gives them /dev/null otherwise)
	saved_tty=$(stty -g <&3 2>/dev/null || true)
fi
restore_tty() {
	[[ -n "$saved_tty" ]] || return 0
	stty "$saved_tty" <&3 2>/dev/null || stty sane <&3 2>/dev/null || true
}
# shellcheck disable=SC2317 # (called from traps)
cleanup() {
	[[ -z "$emu_pid" ]] || kill -KILL "$emu_pid" 2>/dev/null || true
	[[ -z "$relay_pid" ]] || { kill -TERM "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null; } || true
	[[ -z "$follow_pid" ]] || wait "$follow_pid" 2>/dev/null || true
	restore_tty
}
trap cleanup EXIT
trap 'echo; echo "run: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# with_timeout CMD...: CMD in the foreground (it may read the terminal), ended after RUN_TIMEOUT
# seconds when that is not 0 (SIGTERM, which QEMU obeys, then SIGKILL). Status 124 after that.
with_timeout() {
	if ((RUN_TIMEOUT == 0)); then
		"$@"
	else
		timeout --foreground -k 5 "$RUN_TIMEOUT" "$@"
	fi
}

# Kestrel's verdict from the serial log; the exit status of this script.
finish() { # EMULATOR-RC HOW-IT-ENDED
	local rc=$1 how=$2 exit_line code
	[[ -z "$(tail -c 1 "$rundir/com1.txt")" ]] || echo # the log may stop mid-line
	case "$how" in
	timeout) echo "run: stopped after RUN_TIMEOUT=${RUN_TIMEOUT}s" >&2 ;;
	user) echo "run: ended by you (escape key); serial log in $rundir/com1.txt" >&2 ;;
	esac
	exit_line=$(tr -d '\r' <"$rundir/com1.txt" | grep -aoE '\[hv\] exit: code [0-9]+.*' | tail -n 1 || true)
	if [[ -n "$exit_line" ]]; then
		code=$(sed -E 's/.*code ([0-9]+).*/\1/' <<<"$exit_line")
		echo "run: $exit_line (emulator rc $rc; logs in $rundir/)" >&2
		exit "$code"
	fi
	[[ "$how" != user ]] || exit 0
	echo "run: no '[hv] exit' line (emulator rc $rc; logs in $rundir/)" >&2
	exit 1
}

# --- QEMU in the foreground: interactive (kvm, qemu), batch kvm ------------------------------
if [[ "$host" != bochs ]]; then
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
	# shellcheck disable=SC2054 # (commas inside QEMU options)
	if [[ "$host" == kvm ]]; then
		nested_vtx || echo "run: warning: no nested VT-x here (/dev/kvm, vmx, kvm_intel nested)" >&2
		qemu=(qemu-system-x86_64 -accel kvm -cpu host -m "$MEGS" -bios "$ovmf"
			-drive file="$img",format=raw -display none -no-reboot)
		what="QEMU/KVM (${MEGS} MiB)"
	else
		qemu=(qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m "$MEGS" -nodefaults -bios "$ovmf"
			-drive file="$img",format=raw,if=ide -display none -net none -no-reboot
			-device isa-debug-exit,iobase=0xf4,iosize=0x04)
		what="QEMU TCG (no VT-x: expect a refusal)"
	fi
	limit="no time limit"
	((RUN_TIMEOUT == 0)) || limit="up to ${RUN_TIMEOUT}s"
	echo "run: $what, $limit" >&2
	rc=0
	if ((interactive)); then
		# One stdio chardev for COM1 and the monitor (Ctrl-a c); signal=off: Ctrl-C goes to the
		# guest. QEMU puts the terminal in raw mode and restores it; the log keeps COM1's output.
		echo "run: interactive: this terminal is the guest's console. Ctrl-a x ends the run," \
			"Ctrl-a c switches to QEMU's monitor and back, Ctrl-C goes to the guest." >&2
		with_timeout "${qemu[@]}" -chardev stdio,id=con,mux=on,signal=off,logfile="$rundir/com1.txt" \
			-serial chardev:con -mon chardev=con,mode=readline || rc=$?
		restore_tty
		how=ended
		if ((rc == 124)); then
			how=timeout
		elif ((rc == 0)) && ! grep -aq '\[hv\] exit: code' "$rundir/com1.txt"; then
			how=user # Ctrl-a x
		fi
		finish "$rc" "$how"
	fi
	if [[ "$host" == kvm ]]; then
		with_timeout "${qemu[@]}" -serial stdio </dev/null | tee "$rundir/com1.txt" || rc=${PIPESTATUS[0]}
		if ((rc == 124)); then finish "$rc" timeout; else finish "$rc" ended; fi
	fi
fi

# --- in the background, followed here: Bochs, batch QEMU TCG -----------------------------------
start_bochs() {
	local com1 limit="no time limit"
	command -v bochs-bin >/dev/null || die "bochs-bin missing (apt-get install bochs bochs-term)"
	if ((interactive)); then
		command -v socat >/dev/null || die "socat missing (tools/deps.sh)"
		com1="enabled=1, mode=term, dev=$rundir/com1.pty"
	else
		com1="enabled=1, mode=file, dev=$rundir/com1.txt"
	fi
	bochs_config "$rundir/bochsrc" megs="$MEGS" cpu="$CPU" disk="$img" ovmf="$ovmf" \
		com1="$com1" log="$rundir/bochs.log"
	((RUN_TIMEOUT == 0)) || limit="up to ${RUN_TIMEOUT}s"
	echo "run: Bochs ($CPU, ${MEGS} MiB), $limit; log $rundir/bochs.log" >&2

	if ((interactive)); then
		# socat makes the pty that Bochs' COM1 opens (mode=term) and relays it to and from this
		# terminal (raw, from the moment Bochs opens it: wait-slave), copying what COM1 sends to
		# com1.txt (-r: left to right). Ctrl-] (0x1d) is its end of input: socat stops, and so
		# does the run.
		echo "run: interactive: this terminal is the guest's console (the Linux guest's shell" \
			"comes after about 3 minutes). Ctrl-] ends the run at once; Ctrl-C goes to the" \
			"guest; 'poweroff -f' in the guest's shell ends the run properly." >&2
		socat -lf "$rundir/socat.log" -r "$rundir/com1.txt" \
			PTY,link="$rundir/com1.pty",rawer,wait-slave STDIO,rawer,escape=0x1d <&3 &
		relay_pid=$!
		for _ in $(seq 50); do
			[[ -e "$rundir/com1.pty" ]] && break
			kill -0 "$relay_pid" 2>/dev/null || break
			sleep 0.1
		done
		[[ -e "$rundir/com1.pty" ]] || die "socat made no pty ($rundir/socat.log)"
	fi

	bochs_start "$rundir/bochsrc" "$rundir/bochs.out"
}

if [[ "$host" == qemu ]]; then
	"${qemu[@]}" -serial file:"$rundir/com1.txt" </dev/null >"$rundir/qemu.out" 2>&1 &
	emu_pid=$!
else
	start_bochs
fi

if ((!interactive)); then
	# Show the serial log as it grows (ANSI escapes and CRs of OVMF's console stripped) until
	# the emulator ends.
	tail -n +1 -F --pid="$emu_pid" "$rundir/com1.txt" 2>/dev/null |
		sed -u -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\x1b//g' -e 's/\r//g' &
	follow_pid=$!
fi

start=$SECONDS rc=0 how=ended
while :; do
	sleep 1 &
	tick=$!
	done_pid="" wrc=0
	wait -n -p done_pid "$emu_pid" ${relay_pid:+"$relay_pid"} "$tick" || wrc=$?
	if [[ "$done_pid" == "$emu_pid" ]]; then
		rc=$wrc emu_pid=""
		break
	fi
	if [[ -n "$relay_pid" && "$done_pid" == "$relay_pid" ]]; then
		# Ctrl-], or Bochs closed COM1 as it ended (then it ends within a moment), or socat failed.
		relay_pid=""
		for _ in $(seq 20); do
			kill -0 "$emu_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$emu_pid" 2>/dev/null; then
			how=user
			grep -q ' E ' "$rundir/socat.log" 2>/dev/null && how=ended
			kill -KILL "$emu_pid" 2>/dev/null || true
		fi
		wait "$emu_pid" 2>/dev/null || rc=$?
		emu_pid=""
		break
	fi
	if ((RUN_TIMEOUT > 0 && SECONDS - start >= RUN_TIMEOUT)); then
		how=timeout rc=137
		kill -KILL "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
		emu_pid=""
		break
	fi
done
kill "$tick" 2>/dev/null || true
if [[ -n "$relay_pid" ]]; then
	# Bochs closed the pty: socat sends what is left and ends on its own; give it 3 s.
	for _ in $(seq 30); do
		kill -0 "$relay_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$relay_pid" 2>/dev/null || true
	wait "$relay_pid" 2>/dev/null || true
	relay_pid=""
fi
if [[ -n "$follow_pid" ]]; then
	wait "$follow_pid" 2>/dev/null || true
	follow_pid=""
fi
restore_tty
((!interactive)) || printf '\r\n'
finish "$rc" "$how"
