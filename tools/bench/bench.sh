#!/usr/bin/env bash
# tools/bench/bench.sh — the body of `make bench` (after the build): boots the bench guest under
# Kestrel and natively, side by side (two emulators, one core each), then tools/bench/report.py
# turns both serial logs into build/bench/exit-costs.{json,csv,png} and the printed table.
#
# Environment (bench.mk passes them on):
#   BENCH_HOST=bochs|kvm        where Kestrel runs: Bochs (exact instruction counts; default) or
#                               nested under QEMU/KVM on a VT-x host
#   BENCH_NATIVE=bochs|qemu     the native column: Bochs through GRUB (the same emulator, exact
#                               instruction counts; default) or QEMU TCG (host TSC, noisy). When
#                               the Bochs+GRUB boot fails, QEMU TCG is used instead and labelled so
# Logs: build/bench/kestrel-HOST/ and build/bench/native-HOST/ (com1.clean.txt, emulator logs).
set -euo pipefail

root=$(cd "$(dirname -- "$0")/../.." && pwd)
cd "$root"
out=build/bench
host=${BENCH_HOST:-bochs}
native=${BENCH_NATIVE:-bochs}
case $host in bochs | kvm) ;; *) echo "bench: BENCH_HOST must be bochs or kvm" >&2; exit 2 ;; esac
case $native in bochs | qemu) ;; *) echo "bench: BENCH_NATIVE must be bochs or qemu" >&2; exit 2 ;; esac
mkdir -p "$out"

# Keep the previous results: report.py compares the Bochs instruction counts with them.
[[ ! -f "$out/exit-costs.json" ]] || cp -f "$out/exit-costs.json" "$out/exit-costs.prev.json"

kdir=$out/kestrel-$host
ndir=$out/native-$native
echo "bench: booting the bench guest under Kestrel ($host) and natively ($native); logs in $out/"
tools/bench/boot.sh "kestrel-$host" "$kdir" >"$out/kestrel-$host.out" 2>&1 &
kpid=$!
tools/bench/boot.sh "native-$native" "$ndir" >"$out/native-$native.out" 2>&1 &
npid=$!
# Our children end on INT/TERM too (boot.sh SIGKILLs its emulator when signalled).
trap 'kill -TERM $kpid $npid 2>/dev/null || true; wait $kpid $npid 2>/dev/null || true; exit 130' INT TERM

krc=0 nrc=0
wait "$kpid" || krc=$?
wait "$npid" || nrc=$?
cat "$out/kestrel-$host.out" "$out/native-$native.out"
trap - INT TERM

if ((nrc != 0)) && [[ "$native" == bochs ]]; then
	echo "bench: the native Bochs boot (OVMF + GRUB multiboot) failed: using QEMU TCG as the native column"
	native=qemu
	ndir=$out/native-qemu
	nrc=0
	tools/bench/boot.sh native-qemu "$ndir" || nrc=$?
fi
((krc == 0)) || { echo "bench: the Kestrel run failed (logs in $kdir/)" >&2; exit 1; }
# Debian's python3 (python3-matplotlib is installed for it), not whatever python3 is first in PATH.
python=${PYTHON:-/usr/bin/python3}
[[ -x "$python" ]] || python=python3
native_log=$ndir/com1.clean.txt
native_method=$native
if ((nrc != 0)); then
	echo "bench: no native run worked: the native column stays empty" >&2
	native_log=""
	native_method=none
fi

"$python" tools/bench/report.py --kestrel-log "$kdir/com1.clean.txt" --kestrel-host "$host" \
	--native-log "$native_log" --native-method "$native_method" \
	--previous "$out/exit-costs.prev.json" --out "$out"
