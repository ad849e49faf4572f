#!/usr/bin/env python3
"""tests/fuzz/mkseeds.py — (re)write the seed inputs tests/fuzz/corpus/NAME/seed-* of the fuzz
targets. The seeds are committed; run this only to change them:

    python3 tests/fuzz/mkseeds.py [--guest-elfs build/guest]

Everything is synthetic except the two "real" multiboot images, which are Kestrel's own cpuid
test guest (make guests) cut down to its loadable bytes; without build/guest they are skipped
and the committed ones stay. No seed comes from Debian's kernel: the bzImages are synthetic
headers with the field values of Debian's 6.1 kernel, scaled down. Regression inputs
(crash-*) are written by hand when a bug is fixed, never by this script.
"""
import argparse
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    assert len(data) < 64 * 1024, (target, name, len(data))
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def put(buf, off, fmt, *v):
    struct.pack_into("<" + fmt, buf, off, *v)


# --- config -----------------------------------------------------------------------------------
def config_seeds():
    write("config", "default", b"# Kestrel boot configuration.\nloglevel = info\nhv_memory = 64M\n")
    write("config", "docs-example", b"""# Kestrel boot configuration.
loglevel = info
hv_memory = 64M

[guest linux]
kernel = bzImage
initrd = initrd.img
cmdline = console=ttyS0 root=/dev/ram0 rw
memory = 512M
cpus = 2

[guest tiny]
kernel = tiny.elf
memory = 16M
""")
    write("config", "harness-crlf",
          b"harness = qemu\r\nloglevel = debug\r\nselftest = none\r\ninput = off\r\n"
          b"hv_memory = 128m\r\n\r\n[ guest  cpuid ]\r\nkernel = cpuid.elf\r\n"
          b"memory = 16m\r\ncmdline = a # b\r\n")
    guests = b"".join(b"[guest g%d]\n\tkernel\t=\tk%d.elf\t\nmemory = %dM\ncpus = %d\n" %
                      (i, i, 1 << i, i + 1) for i in range(8))
    write("config", "eight-guests", b"selftest = fault\nhv_memory = 4G\n" + guests)
    write("config", "sizes", b"hv_memory = 8388608\n[guest s_1-X]\nkernel = a\ninitrd = b\n"
          b"memory = 64G\ncpus = 64\ncmdline =\n[guest t]\nkernel = c\nmemory = 1024k\n")
    # The longest command line (1023 characters), then one too long, then a line too long.
    write("config", "cmdline-max", b"[guest linux]\nkernel = bzImage\ncmdline = " +
          b"console=ttyS0 " * 73 + b"q\n")
    write("config", "error-cmdline-too-long", b"[guest linux]\nkernel = bzImage\ncmdline = " +
          b"x" * 1024 + b"\n")
    write("config", "error-line-too-long", b"# " + b"-" * 1099 + b"\n")
    write("config", "error-unknown-key", b"loglevel = info\nmemroy = 16M\n")
    write("config", "error-no-kernel", b"harness = bochs\n[guest a]\nmemory = 2M\n[guest b]\n")


# --- elf --------------------------------------------------------------------------------------
MB_MAGIC = 0x1BADB002


def multiboot_header(flags=0x00000003):
    return struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF)


def elf(bits, entry, phdrs, body, machine=None):
    """An ET_EXEC image: header, program headers, then body (offsets in phdrs are absolute)."""
    ehsize, phsize = (52, 32) if bits == 32 else (64, 56)
    machine = machine or (3 if bits == 32 else 62)
    out = bytearray(ehsize + phsize * len(phdrs))
    out[0:16] = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1, 1]) + bytes(9)
    if bits == 32:
        put(out, 16, "HHIIIIIHHHHHH", 2, machine, 1, entry, ehsize, 0, 0, ehsize, phsize,
            len(phdrs), 40, 0, 0)
    else:
        put(out, 16, "HHIQQQIHHHHHH", 2, machine, 1, entry, ehsize, 0, 0, ehsize, phsize,
            len(phdrs), 64, 0, 0)
    for i, (ptype, flags, off, vaddr, paddr, filesz, memsz) in enumerate(phdrs):
        at = ehsize + i * phsize
        if bits == 32:
            put(out, at, "IIIIIIII", ptype, off, vaddr, paddr, filesz, memsz, flags, 0x1000)
        else:
            put(out, at, "IIQQQQQQ", ptype, flags, off, vaddr, paddr, filesz, memsz, 0x1000)
    out += body[len(out):] if len(body) > len(out) else b""
    return bytes(out)


def small_elf(bits, high_half=False):
    """Text (multiboot header, then `hlt; jmp`) and a data + bss segment, all in 0x400 bytes."""
    base = 0xFFFFFFFF80000000 if high_half else 0
    body = bytearray(0x400)
    body[0x200:0x20C] = multiboot_header()
    body[0x20C:0x210] = b"\xf4\xeb\xfd\x90"
    body[0x300:0x310] = b"kestrel fuzz data"[:16]
    ph = [(1, 5, 0x200, base + 0x100000, 0x100000, 0x100, 0x100),  # R E
          (4, 4, 0x300, 0, 0, 0x10, 0x10),                          # PT_NOTE: ignored
          (1, 6, 0x300, base + 0x101000, 0x101000, 0x10, 0x3000)]   # RW, with bss
    return elf(bits, base + 0x10000C, ph, body)


def cut_real(path):
    """A real guest: only its loadable bytes, without section headers."""
    with open(path, "rb") as f:
        d = bytearray(f.read())
    bits = 32 if d[4] == 1 else 64
    if bits == 32:
        phoff, phnum, phsize = struct.unpack_from("<I", d, 28)[0], d[44], 32
        ends = [struct.unpack_from("<II", d, phoff + i * phsize + 4)[0] +
                struct.unpack_from("<I", d, phoff + i * phsize + 16)[0] for i in range(phnum)]
        put(d, 32, "I", 0)        # e_shoff
        put(d, 46, "HHH", 40, 0, 0)
    else:
        phoff, phnum, phsize = struct.unpack_from("<Q", d, 32)[0], d[56], 56
        ends = [struct.unpack_from("<Q", d, phoff + i * phsize + 8)[0] +
                struct.unpack_from("<Q", d, phoff + i * phsize + 32)[0] for i in range(phnum)]
        put(d, 40, "Q", 0)
        put(d, 58, "HHH", 64, 0, 0)
    return bytes(d[:max(ends)])


def elf_seeds(guest_elfs):
    write("elf", "small32", small_elf(32))
    write("elf", "small64-high-half", small_elf(64, high_half=True))
    # Eight loadable segments, the most elf_parse takes, one page apart.
    body = bytearray(0x200 + 8 * 0x20)
    body[0x200:0x20C] = multiboot_header(0x00010003)
    ph = [(1, 5 if i == 0 else 6, 0x200 + 0x20 * i, 0x200000 + 0x1000 * i, 0x200000 + 0x1000 * i,
           0x20, 0x800) for i in range(8)]
    write("elf", "eight-segments32", elf(32, 0x20000C, ph, body))
    body += bytes(0x20)
    ph.append((1, 6, 0x300, 0x300000, 0x300000, 0x20, 0x20))
    write("elf", "error-nine-segments32", elf(32, 0x20000C, ph, body))
    for name, rel in (("real-cpuid32", "cpuid.elf"), ("real-cpuid64", "cpuid.elf64")):
        path = os.path.join(guest_elfs, rel)
        if os.path.exists(path):
            write("elf", name, cut_real(path))


# --- linux ------------------------------------------------------------------------------------
def bzimage(setup_sects=15, kernel_size=0x1000, protocol=0x020F, jump=0x6A, loadflags=0x01,
            xloadflags=0x7F, align=0x200000, pref=0x200000, init_size=0x100000,
            cmdline_size=0x7FF, initrd_max=0x7FFFFFFF, version=b"6.1.0-fuzz-amd64 (kestrel) #1",
            ram_shift=3, initrd_size=0x1000, cmdline=b"console=ttyS0 quiet", flags5=0,
            extra=()):
    setup = ((setup_sects or 4) + 1) * 512
    b = bytearray(setup + kernel_size)
    for i in range(setup, len(b)):     # a recognisable "kernel"
        b[i] = (i * 7 + 3) & 0xFF
    # The loader's parameters, in the legacy boot sector (tests/fuzz/fuzz_linux.c).
    b[0] = ram_shift
    put(b, 1, "H", initrd_size)
    put(b, 3, "H", len(cmdline))
    b[5] = flags5 | len(extra)
    b[0x40:0x40 + len(cmdline)] = cmdline
    for i, (start, size, typ) in enumerate(extra):
        put(b, 0x100 + 17 * i, "QQB", start, size, typ)
    # The setup header (Documentation/arch/x86/boot.rst).
    b[0x1F1] = setup_sects
    put(b, 0x1F4, "I", kernel_size // 16)
    put(b, 0x1FE, "H", 0xAA55)
    b[0x200:0x202] = bytes([0xEB, jump])
    put(b, 0x202, "IH", 0x53726448, protocol)
    put(b, 0x20E, "H", 0x1000 if version else 0)
    b[0x211] = loadflags
    put(b, 0x22C, "I", initrd_max)
    put(b, 0x230, "IBB", align, 1, 21)
    put(b, 0x236, "HI", xloadflags, cmdline_size)
    put(b, 0x248, "II", 0x2CC, kernel_size - 0x2CC - 0x100)
    put(b, 0x258, "QI", pref, init_size)
    if version:
        b[0x1200:0x1200 + len(version) + 1] = version + b"\0"
    return bytes(b)


def linux_seeds():
    write("linux", "debian-like", bzimage())
    write("linux", "setup-sects-0-4k-align", bzimage(setup_sects=0, align=0x1000, pref=0,
                                                     version=None, ram_shift=2))
    write("linux", "protocol-2.12-short-header", bzimage(protocol=0x020C, jump=0x62,
                                                         init_size=0x1000, xloadflags=0x03,
                                                         initrd_max=0x100000, ram_shift=2,
                                                         initrd_size=0x800))
    write("linux", "reserved-ranges", bzimage(ram_shift=4, extra=((0x200000, 0x100000, 2),
                                                                  (0x500000, 0x1000, 4),
                                                                  (0xFEC00000, 0x1000, 2))))
    write("linux", "no-acpi-1m-ram", bzimage(ram_shift=0, flags5=0x80, initrd_size=0,
                                            cmdline=b""))


# --- x86_decode -------------------------------------------------------------------------------
def x86_seeds():
    regs = struct.pack("<QQ", 0x1122334455667788, 0x202) + b"".join(
        struct.pack("<Q", 0x0101010101010101 * (i + 1)) for i in range(16))
    insns = {
        "mov-store-rax-ecx": "89 08",
        "mov-load-eax-rcx": "8b 01",
        "mov-load-rip-rel": "48 8b 05 f0 0f 00 00",
        "mov-imm32": "c7 00 00 00 00 80",
        "mov-byte-imm": "c6 40 10 ff",
        "mov-store-dx-66": "66 89 10",
        "mov-ah-load": "8a 20",
        "mov-sib-disp32": "88 04 25 00 00 e0 fe",
        "mov-moffs-load": "a1 00 00 c0 fe",
        "mov-moffs-store-64": "48 a3 00 00 c0 fe 00 00 00 00",
        "mov-r12-disp8": "41 89 44 24 08",
        "mov-fs-sib": "64 8b 04 25 30 00 00 00",
        "movzx-byte": "0f b6 40 10",
        "movzx-word": "0f b7 02",
        "movsx-byte": "48 0f be 0b",
        "movsx-word": "0f bf 50 fc",
        "lock-or": "f0 09 02",
        "or-imm8": "83 48 04 01",
        "and-imm32": "81 60 08 ff ff ff fe",
        "add-load": "03 07",
        "sub-store-byte": "28 1e",
        "cmp-imm": "80 38 7f",
        "sbb-adc": "19 0c 24",
        "xor-index-scale": "31 84 8b 00 01 00 00",
        "test-reg": "85 03",
        "test-imm": "f6 40 01 80",
        "test-imm32": "f7 00 00 00 01 00",
        "xchg": "87 01",
        "mov-16bit-bp": "89 46 02",
        "mov-16bit-disp16": "67 8b 06 34 12",
        "es-override": "26 89 05 00 10 00 00",
        "rep-refused": "f3 89 08",
        "reg-form-refused": "89 c8",
    }
    for name, hexbytes in insns.items():
        b = bytes.fromhex(hexbytes)
        write("x86_decode", name, bytes([len(b) - 1]) + b + regs)


# --- acpi -------------------------------------------------------------------------------------
BASE = 0xE0000
DSDT_AML_S5 = bytes([0x08]) + b"_S5_" + bytes([0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00])


def checksum(b):
    return (-sum(b)) & 0xFF


def sdt(sig, body, revision=1):
    t = bytearray(36) + body
    t[0:4] = sig
    put(t, 4, "I", len(t))
    t[8] = revision
    t[10:16] = b"KESTRL"
    t[16:24] = b"FUZZSEED"
    put(t, 24, "I", 1)
    t[28:32] = b"KSTL"
    put(t, 32, "I", 1)
    t[9] = checksum(t)
    return bytes(t)


def fadt(dsdt_phys, pm1a_cnt=0x604, length=276, x_dsdt=True):
    body = bytearray(length - 36)
    put(body, 40 - 36, "I", dsdt_phys)
    put(body, 64 - 36, "I", pm1a_cnt)
    if x_dsdt and length >= 148:
        put(body, 140 - 36, "Q", dsdt_phys)
    return sdt(b"FACP", body, 6)


def rsdp(rev, sdt_phys):
    r = bytearray(36)
    r[0:8] = b"RSD PTR "
    r[9:15] = b"KESTRL"
    r[15] = rev
    if rev >= 2:
        put(r, 20, "IQ", 36, sdt_phys)
    else:
        put(r, 16, "I", sdt_phys)
    r[8] = checksum(r[:20])
    if rev >= 2:
        r[32] = checksum(r)
    return bytes(r)


def acpi_image(tables):
    """tables: {offset: bytes}; memory from BASE."""
    size = max(off + len(t) for off, t in tables.items())
    m = bytearray(size)
    for off, t in tables.items():
        m[off:off + len(t)] = t
    return bytes(m)


def acpi_seeds():
    dsdt = sdt(b"DSDT", DSDT_AML_S5 + bytes([0x10, 0x05]) + b"_SB_", 2)
    # RSDP 2 -> XSDT -> (MADT-ish, FADT) -> DSDT via X_DSDT.
    apic = sdt(b"APIC", bytes(8), 5)
    x = sdt(b"XSDT", struct.pack("<QQ", BASE + 0x80, BASE + 0x100))
    write("acpi", "rsdp2-xsdt-fadt-dsdt", acpi_image({
        0: rsdp(2, BASE + 0x40), 0x40: x, 0x80: apic, 0x100: fadt(BASE + 0x300), 0x300: dsdt}))
    # RSDP 0 -> RSDT -> FADT (ACPI 1.0 length, DSDT by its 32-bit field) -> DSDT with "\_S5_".
    dsdt_root = sdt(b"DSDT", bytes([0x08, ord("\\")]) + b"_S5_" +
                    bytes([0x12, 0x06, 0x02, 0x01, 0x0A, 0x07]), 1)
    r = sdt(b"RSDT", struct.pack("<I", BASE + 0x80))
    write("acpi", "rsdp0-rsdt-fadt116-dsdt", acpi_image({
        0: rsdp(0, BASE + 0x40), 0x40: r, 0x80: fadt(BASE + 0x200, 0xB004, 116), 0x200: dsdt_root}))
    # Two-byte PkgLength, zero ops in the package, a PM1b block.
    body = bytearray(fadt(BASE + 0x300))
    put(body, 68, "I", 0xB008)
    body[9] = 0
    body[9] = checksum(body)
    dsdt2 = sdt(b"DSDT", bytes([0x10, 0x20]) + b"\\___" + bytes([0x08]) + b"_S5_" +
                bytes([0x12, 0x41, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00]), 2)
    write("acpi", "pm1b-pkglength2", acpi_image({
        0: rsdp(2, BASE + 0x40), 0x40: sdt(b"XSDT", struct.pack("<Q", BASE + 0x100)),
        0x100: bytes(body), 0x300: dsdt2}))


# --- acpi_build -------------------------------------------------------------------------------
def acpi_build_seeds():
    def platform(n_cpus, lapic, ioapic, ioapic_id, pm, gpa, size, big=0):
        return struct.pack("<HIIBHQHB", n_cpus, lapic, ioapic, ioapic_id, pm, gpa,
                           size & 0xFFFF, big)
    write("acpi_build", "default", platform(4, 0xFEE00000, 0xFEC00000, 0, 0x600, 0xE0000, 0, 1))
    write("acpi_build", "255-cpus", platform(255, 0xFEE00000, 0xFEC00000, 8, 0xB000, 0xE0000,
                                             0x2000))
    write("acpi_build", "below-4g", platform(1, 0xFEE00000, 0xFEC00000, 1, 0xFFF4,
                                             0xFFFFF000 - 0x10, 0xF000))
    write("acpi_build", "too-small", platform(2, 0xFEE00000, 0xFEC00000, 0, 0x600, 0x9F000, 0x400))


# --- guest_walk -------------------------------------------------------------------------------
CR0_PE, CR0_WP, CR0_PG = 1, 1 << 16, 1 << 31
CR4_PSE, CR4_PAE = 1 << 4, 1 << 5
EFER_LME, EFER_LMA, EFER_NXE = 1 << 8, 1 << 10, 1 << 11
P, W, U, PS, NX = 1, 2, 4, 0x80, 1 << 63


def walk(cr0, cr3, cr4, efer, la, access, user, ram_end, entries, entry_size=8):
    """Guest memory: one 4 KiB page (repeated over RAM) with `entries` {byte offset: value}."""
    mem = bytearray(4096)
    for off, v in entries.items():
        put(mem, off, "Q" if entry_size == 8 else "I", v)
    return struct.pack("<QQQQQBBQ", cr0, cr3, cr4, efer, la, access, user, ram_end) + bytes(mem)


def guest_walk_seeds():
    pg = CR0_PE | CR0_PG | CR0_WP
    write("guest_walk", "paging-off", walk(CR0_PE, 0, 0, 0, 0x12345678, 0, 0, 1 << 32, {}))
    # 4-level: PML4[1] -> PDPT[2] -> PD[3] -> PT[4], every table the one page.
    la = (1 << 39) | (2 << 30) | (3 << 21) | (4 << 12) | 0x567
    write("guest_walk", "long-4k", walk(pg, 0x1000, CR4_PAE, EFER_LME | EFER_LMA | EFER_NXE, la,
                                        1, 1, 1 << 32, {8: 0x2000 | P | W | U,
                                                        16: 0x3000 | P | W | U,
                                                        24: 0x4000 | P | W | U,
                                                        32: 0xABCDE000 | P | W | U | NX}))
    la = (5 << 30) % (1 << 48) | (6 << 21) | 0x12345
    write("guest_walk", "long-2m-fetch-nx", walk(pg, 0, CR4_PAE, EFER_LMA | EFER_NXE, la, 2, 0,
                                                 1 << 32, {0: 0x1000 | P | W, 40: 0x1000 | P | W,
                                                           48: 0x200000 | P | PS | NX}))
    # PAE: PDPTE[1] at CR3 + 8, then PD[2] -> PT[3].
    la = (1 << 30) | (2 << 21) | (3 << 12) | 0x9
    write("guest_walk", "pae-4k", walk(pg, 0x1020, CR4_PAE, 0, la, 1, 0, 1 << 32,
                                       {0x28: 0x5000 | P, 16: 0x6000 | P | W, 24: 0x7000 | P}))
    # 32-bit: PDE[1] (4 MiB page with PSE-36 bits) and PDE[2] -> PTE[3].
    write("guest_walk", "32bit-pse36", walk(pg, 0x3000, CR4_PSE, 0, (1 << 22) | 0x1234, 0, 1,
                                            1 << 32, {4: 0x00C00000 | (0x12 << 13) | P | W | U | PS},
                                            entry_size=4))
    write("guest_walk", "32bit-4k-readonly", walk(pg, 0x3000, 0, 0, (2 << 22) | (3 << 12), 1, 0,
                                                  1 << 32, {8: 0x4000 | P | U, 12: 0x8000 | P | U},
                                                  entry_size=4))
    write("guest_walk", "bad-table", walk(pg, 0x7FFFF000, CR4_PAE, EFER_LMA, 0, 0, 0, 1 << 20, {}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--guest-elfs", default=os.path.join(ROOT, "..", "..", "build", "guest"))
    args = ap.parse_args()
    config_seeds()
    elf_seeds(args.guest_elfs)
    linux_seeds()
    x86_seeds()
    acpi_seeds()
    acpi_build_seeds()
    guest_walk_seeds()


if __name__ == "__main__":
    main()
