#!/usr/bin/env bash
# tools/mkimage.sh OUT.img KESTREL.efi CONFIG [FILE...]
#
# Builds a GPT disk image with one EFI system partition (FAT, made with mtools; no loop mounts,
# no root) holding:
#   EFI/BOOT/BOOTX64.EFI   <- KESTREL.efi
#   kestrel.cfg            <- CONFIG
#   <basename of FILE>     <- each FILE (guest kernels, initrds, ...), in the partition root
# With no FILE arguments the files are the ones CONFIG names on its "kernel =" and "initrd ="
# lines (`make image`), each looked for in CONFIG's directory, then $BUILD/linux/, then
# $BUILD/guest/ (BUILD defaults to build/ of this repository); one found nowhere is an error that
# names it and the places searched.
# Size: the files plus slack, at least 64 MiB, a multiple of 16*63 sectors (Bochs' disk geometry).
# The image is built in a temporary file beside OUT and renamed into place at the end.
# Reproducible: the same inputs give the same bytes (fixed GUIDs, volume serial and, through
# SOURCE_DATE_EPOCH, file times; default 2024-01-01). The firmware's work before Kestrel starts
# depends on them, and `make bench` needs two runs to agree instruction for instruction.
set -euo pipefail

die() { echo "mkimage: $*" >&2; exit 1; }

(($# >= 3)) || die "usage: $0 OUT.img KESTREL.efi CONFIG [FILE...]"
out=$1 efi=$2 cfg=$3
shift 3
files=("$@")
build=${BUILD:-$(cd "$(dirname -- "$0")/.." && pwd)/build}

# The files CONFIG names: "kernel = NAME" / "initrd = NAME" lines (whitespace around the key, the
# "=" and the value allowed, as Kestrel's parser does; comments skipped). Each name once.
config_files() {
	local dir line n=0 key name where f
	local -A named=()
	dir=$(dirname -- "$cfg")
	local places=("$dir" "$build/linux" "$build/guest")
	while IFS= read -r line || [[ -n "$line" ]]; do
		n=$((n + 1))
		line=${line%$'\r'}
		[[ "$line" =~ ^[[:space:]]*(kernel|initrd)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] ||
			continue
		key=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
		[[ -z "${named[$name]:-}" ]] || continue
		named[$name]=1
		# Kestrel rejects names with spaces itself; the ESP holds files in its root only.
		[[ "$name" != */* && "$name" != *\\* ]] ||
			die "$cfg:$n: $key '$name': only a file name in the ESP root is supported"
		where=""
		for f in "${places[@]}"; do
			[[ -f "$f/$name" ]] && { where=$f/$name; break; }
		done
		[[ -n "$where" ]] || die "$cfg:$n: $key file '$name' not found in ${places[0]}/," \
			"${places[1]}/ or ${places[2]}/ (make linux-guest builds vmlinuz and initrd.img," \
			"make guests the test guests)"
		files+=("$where")
	done <"$cfg"
}

for tool in sgdisk mformat mmd mcopy; do
	command -v "$tool" >/dev/null || die "$tool not found (run tools/deps.sh)"
done
for f in "$efi" "$cfg" "${files[@]}"; do
	[[ -f "$f" && -r "$f" ]] || die "no such file: $f"
done
# MKIMAGE_SCAN=0: exactly the FILEs given, even none (the boot tests list every file they want).
((${#files[@]} > 0)) || [[ "${MKIMAGE_SCAN:-1}" == 0 ]] || config_files

# Names in the partition root must be unique (FAT compares them case-insensitively).
declare -A seen=([kestrel.cfg]=1 [efi]=1)
for f in "${files[@]}"; do
	name=$(basename "$f")
	key=${name,,}
	[[ -z "${seen[$key]:-}" ]] || die "duplicate name on the ESP: $name"
	seen[$key]=1
done

# Size: payload + 25% + 8 MiB of slack for FAT metadata, at least 64 MiB, rounded up to a
# multiple of 16 heads * 63 sectors. The partition starts at 1 MiB; GPT's backup takes 33 sectors
# at the end.
readonly SECTOR=512 CYL=$((16 * 63)) PART_START=2048
payload=0
for f in "$efi" "$cfg" "${files[@]}"; do
	payload=$((payload + $(stat -c %s "$f")))
done
bytes=$((payload + payload / 4 + 8 * 1024 * 1024 + PART_START * SECTOR))
((bytes >= 64 * 1024 * 1024)) || bytes=$((64 * 1024 * 1024))
sectors=$(((bytes + SECTOR - 1) / SECTOR))
sectors=$(((sectors + CYL - 1) / CYL * CYL))

mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
truncate -s $((sectors * SECTOR)) "$tmp"

# Partition table (sgdisk chatters about the kernel's view of the table: show it only on error).
readonly DISK_GUID=4b657374-7265-6c00-8000-000000000001 PART_GUID=4b657374-7265-6c00-8000-000000000002
if ! log=$(sgdisk -o -n 1:${PART_START}:0 -t 1:ef00 -c 1:"EFI system partition" \
	-U "$DISK_GUID" -u 1:"$PART_GUID" "$tmp" 2>&1); then
	echo "$log" >&2
	die "sgdisk failed"
fi
part_sectors=$(sgdisk -i 1 "$tmp" | sed -n 's/^Partition size: \([0-9]*\) sectors.*/\1/p')
[[ -n "$part_sectors" ]] || die "cannot read the partition size back from sgdisk"

# FAT file system inside the partition (mtools addresses it as IMG@@offset).
esp="$tmp@@$((PART_START * SECTOR))"
export MTOOLS_SKIP_CHECK=1
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
mformat -i "$esp" -T "$part_sectors" -h 16 -s 63 -H "$PART_START" -v KESTREL -N 4b455354 ::
mmd -i "$esp" ::/EFI ::/EFI/BOOT
mcopy -i "$esp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$cfg" ::/kestrel.cfg
for f in "${files[@]}"; do
	mcopy -i "$esp" "$f" "::/$(basename "$f")"
done

chmod 644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
