# shellcheck shell=bash
# tools/lib/emu.sh — sourced (functions only) by the scripts that boot an emulator:
# tests/boot/run-case, tools/run.sh, tools/run-linux-native.sh, tools/bench/boot.sh.

# bochs_config FILE KEY=VALUE...: the one Bochs configuration they all use (OVMF on an i440FX
# PC; VT-x with EPT comes from the CPU model, see ../shared/TESTHOSTS.md). Keys: megs, cpu,
# disk (a raw image), com1 (the value of the "com1:" line), log, ovmf; optional: info (Bochs'
# action for info messages, default ignore), time0 (start of the emulated clock with
# sync=none, so that two runs are identical instruction for instruction), magic_break (1, the
# default: "xchg bx,bx" stops the run through bochs_start's quit; 0 for guests that may
# execute it).
bochs_config() {
	local file=$1 megs="" cpu="" disk="" com1="" log="" ovmf="" info=ignore time0=""
	local magic_break=1 kv key
	shift
	for kv; do
		key=${kv%%=*}
		case $key in
		megs | cpu | disk | com1 | log | ovmf | info | time0 | magic_break)
			printf -v "$key" '%s' "${kv#*=}" ;;
		*) echo "bochs_config: unknown key '$key'" >&2; return 2 ;;
		esac
	done
	for key in megs cpu disk com1 log ovmf; do
		[[ -n "${!key}" ]] || { echo "bochs_config: $key= missing" >&2; return 2; }
	done
	{
		echo "megs: $megs"
		echo "romimage: file=$ovmf"
		echo "vgaromimage: file=/usr/share/vgabios/vgabios.bin"
		echo "pci: enabled=1, chipset=i440fx"
		echo "cpu: model=$cpu, count=1, ips=50000000, reset_on_triple_fault=0"
		[[ -z "$time0" ]] || echo "clock: sync=none, time0=$time0"
		echo "display_library: term"
		echo "com1: $com1"
		echo "ata0-master: type=disk, path=$disk, mode=flat"
		echo "boot: disk"
		echo "log: $log"
		echo "panic: action=fatal"
		echo "error: action=report"
		echo "info: action=$info"
		echo "debug: action=ignore"
		((magic_break == 0)) || echo "magic_break: enabled=1"
	} >"$file"
}

# bochs_start BOCHSRC OUT: Bochs in the background on BOCHSRC, its output (the term display)
# to OUT; sets emu_pid. bochs-bin itself, not the /usr/bin/bochs wrapper, so that emu_pid is
# the emulator (Bochs ignores SIGTERM: callers SIGKILL it). Debian's Bochs has its debugger
# built in: the rc file continues, and quits at the magic breakpoint.
bochs_start() {
	local rc=${1%/*}/bochs.rc
	printf 'c\nquit\n' >"$rc"
	TERM=xterm bochs-bin -q -unlock -f "$1" -rc "$rc" </dev/null >"$2" 2>&1 3<&- &
	# shellcheck disable=SC2034 # the caller's
	emu_pid=$!
}

# serial_clean IN OUT: the serial log as text. OVMF's console adds ANSI escapes, CRs and NULs;
# a log that stopped mid-line gets its last line ended.
serial_clean() {
	if [[ ! -f "$1" ]]; then
		: >"$2"
		return 0
	fi
	tr -d '\000' <"$1" |
		sed -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\x1b[()][A-Za-z0-9]//g' -e 's/\x1b//g' \
			-e 's/\r//g' >"$2"
	[[ ! -s "$2" || -z "$(tail -c 1 "$2")" ]] || echo >>"$2"
}
